"""The rule engine's use of the shared condition language (libs/conditions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from helpdesk_conditions import CustomField, PythonConditions, compile_python
from helpdesk_events import Change, TicketSnapshot


class CompiledConditions:
    """A rule's conditions, compiled once: ``matches`` is the fast path, ``explain`` the
    trace stored with every evaluation (JSON-ready)."""

    def __init__(self, compiled: PythonConditions) -> None:
        self._compiled = compiled
        self.matches = compiled.matches

    def explain(
        self, ticket: TicketSnapshot, changes: Mapping[str, Change] | None, now: datetime
    ) -> dict[str, Any]:
        return self._compiled.explain(ticket, changes, now).as_dict()


def uses_custom_fields(conditions: Mapping[str, Any]) -> bool:
    return any(
        str(c.get("field", "")).startswith("custom_fields.")
        for group in conditions.get("any", [])
        if isinstance(group, Mapping)
        for c in group.get("all", [])
        if isinstance(c, Mapping)
    )


def compile_conditions(
    conditions: Mapping[str, Any], custom_fields: Iterable[CustomField] | None = None
) -> CompiledConditions:
    """Raises ``helpdesk_conditions.ConditionError`` when the conditions are invalid."""
    return CompiledConditions(compile_python(conditions, custom_fields=list(custom_fields or ())))
