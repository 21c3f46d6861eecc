"""What a rule refers to must exist when it is saved: a transfer's department and agent
are looked up in ticket-api. Tags are not checked (ticket-api creates a tag on first use),
nor SLA levels (there is no SLA service yet to own them); custom fields in conditions are
checked when the conditions compile."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from helpdesk_service.errors import Unprocessable
from helpdesk_ticket_client import TicketApiClient

_REFERENCES: dict[str, tuple[Literal["departments", "agents"], str]] = {
    "department_id": ("departments", "department"),
    "agent_id": ("agents", "agent"),
}


async def check_references(ticket_api: TicketApiClient, actions: list[dict[str, Any]]) -> None:
    """A 422 naming each action whose department or agent does not exist."""
    errors = []
    for index, action in enumerate(actions):
        if action["type"] != "transfer":
            continue
        for key, (collection, noun) in _REFERENCES.items():
            value = action.get(key)
            if value is None:
                continue
            if not await ticket_api.directory_record_exists(collection, uuid.UUID(str(value))):
                errors.append(
                    {"field": f"actions[{index}].{key}", "message": f"no {noun} {value} exists"}
                )
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]),
            details=errors,
            code="unknown_reference",
        )
