"""What pydantic cannot see alone in a rule's definition: its conditions (the shared
language), "every ticket" asked for rather than reached by leaving the conditions empty,
and where a purge may stand. Every kind of rule checks these; each adds its own limits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from helpdesk_conditions import CustomField, validate_conditions
from helpdesk_service.errors import Unprocessable

# Actions that do not change the ticket itself.
_NOT_TICKET_CHANGES = frozenset({"stop_rules", "send_email", "call_url", "http_request"})


def condition_errors(
    conditions: Any, *, pointer: str, custom_fields: Iterable[CustomField] | None = None
) -> list[dict[str, str]]:
    issues = validate_conditions(
        conditions,
        custom_fields=list(custom_fields) if custom_fields is not None else None,
        root=pointer,
    )
    return [{"field": i.pointer, "message": i.message} for i in issues]


def definition_errors(
    conditions: dict[str, Any], actions: list[dict[str, Any]], *, new_conditions: bool = True
) -> list[dict[str, str]]:
    """Problems in a rule's conditions and (stored) actions, each with a pointer.
    ``new_conditions``: the conditions are being set now (a rule saved before every_ticket
    existed keeps its empty conditions through edits of other fields)."""
    errors = condition_errors(conditions, pointer="conditions")
    if new_conditions and conditions == {"any": []}:
        # "Every ticket" must be asked for, not reached by leaving the conditions empty.
        errors.append(
            {
                "field": "conditions.any",
                "message": "a rule needs at least one group of conditions; "
                'to act on every ticket, write "conditions": {"every_ticket": true}',
            }
        )
    ticket_changes = [i for i, a in enumerate(actions) if a["type"] not in _NOT_TICKET_CHANGES]
    purges = [i for i, a in enumerate(actions) if a["type"] == "purge"]
    if purges and purges[0] != ticket_changes[-1]:
        errors.append(
            {
                "field": f"actions[{purges[0]}]",
                "message": "purge must be the last action that changes the ticket",
            }
        )
    return errors


def raise_if_invalid(errors: list[dict[str, str]]) -> None:
    """A 422 naming the first problems, all of them in the details."""
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), details=errors
        )
