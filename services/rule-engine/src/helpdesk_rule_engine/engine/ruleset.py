"""Rules compiled for evaluation, indexed by kind and trigger."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from helpdesk_conditions import CustomField
from pydantic import TypeAdapter

from ..rules.schemas import Action
from .conditions import CompiledConditions, compile_conditions

log = logging.getLogger(__name__)
_ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


@dataclass(frozen=True)
class CompiledRule:
    id: uuid.UUID
    name: str
    kind: str
    position: int
    trigger: str
    shadow: bool
    conditions: CompiledConditions
    actions: tuple[Any, ...]

    @property
    def actor(self) -> dict[str, str]:
        return {
            "kind": "sla_rule" if self.kind == "sla" else "rule",
            "id": str(self.id),
            "name": self.name,
        }


@dataclass
class RuleSet:
    version: int
    _index: dict[tuple[str, str], list[CompiledRule]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, version: int, rows: Sequence[Any], custom_fields: Sequence[CustomField] = ()
    ) -> RuleSet:
        ruleset = cls(version)
        for row in rows:
            try:
                rule = compile_rule(row, custom_fields)
            except Exception:
                log.exception("rule %s (%s) does not compile; it is skipped", row.id, row.name)
                continue
            ruleset._index.setdefault((rule.kind, rule.trigger), []).append(rule)
        for rules in ruleset._index.values():
            rules.sort(key=lambda r: (r.position, str(r.id)))
        return ruleset

    def candidates(self, triggers: Sequence[str], *, new_ticket: bool) -> list[CompiledRule]:
        """SLA rules first (on new tickets), then action rules of every trigger, in order."""
        sla = list(self._index.get(("sla", "ticket_created"), ())) if new_ticket else []
        seen: set[uuid.UUID] = set()
        actions: list[CompiledRule] = []
        for trigger in triggers:
            for rule in self._index.get(("action", trigger), ()):
                if rule.id not in seen:
                    seen.add(rule.id)
                    actions.append(rule)
        actions.sort(key=lambda r: (r.position, str(r.id)))
        return sla + actions

    def __len__(self) -> int:
        return sum(len(r) for r in self._index.values())


def compile_rule(row: Any, custom_fields: Sequence[CustomField] = ()) -> CompiledRule:
    return CompiledRule(
        id=row.id,
        name=row.name,
        kind=row.kind,
        position=row.position,
        trigger=row.trigger,
        shadow=row.shadow,
        conditions=compile_conditions(row.conditions, custom_fields),
        actions=tuple(_ACTIONS.validate_python(row.actions)),
    )
