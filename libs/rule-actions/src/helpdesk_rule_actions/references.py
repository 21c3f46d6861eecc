"""What a rule refers to must exist when it is saved: a transfer's department and agent are
looked up in ticket-api, SLA levels (``change_sla_level`` actions and ``sla_level``
conditions) in the sla-tracker. Tags are not checked (ticket-api creates a tag on first
use); custom fields in conditions are checked when the conditions compile.

When the sla-tracker cannot answer, the rule is refused with a 503 rather than saved
unchecked: a rule naming a level that does not exist would otherwise fail each time it
fires."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote

import aiohttp
from helpdesk_service.errors import ApiError, Unprocessable
from helpdesk_ticket_client import TicketApiClient
from pydantic import Field

_REFERENCES: dict[str, tuple[Literal["departments", "agents"], str]] = {
    "department_id": ("departments", "department"),
    "agent_id": ("agents", "agent"),
}
_LEVEL_OPERATORS = frozenset({"is", "is_not", "in", "not_in"})

# How a rule shows a reference found broken when it fired (the rule's response field).
BrokenReference = Annotated[
    str | None,
    Field(
        description="set when the rule last fired and a department or agent it names no "
        "longer existed (ticket-api's message); cleared when its actions change"
    ),
]


class ReferenceCheckUnavailable(ApiError, status_code=503, code="reference_check_unavailable"):
    """The service that owns a reference could not be asked: try saving again later."""


# For the OpenAPI document of the routes that save rules.
REFERENCE_CHECK_RESPONSES: dict[int | str, dict[str, Any]] = {
    ReferenceCheckUnavailable.status_code: {
        "description": "The sla-tracker could not be asked whether an SLA level the rule names "
        "exists; nothing was saved (code reference_check_unavailable)."
    }
}


class SlaLevels:
    """The SLA levels the sla-tracker knows (``GET /v1/levels/{name}``), asked with the
    service's own key through ``session`` (based at the sla-tracker's URL)."""

    def __init__(self, session: aiohttp.ClientSession, key: str) -> None:
        self._session = session
        self._headers = {"Authorization": f"Bearer {key}"}

    async def exists(self, name: str) -> bool:
        try:
            async with self._session.get(
                f"v1/levels/{quote(name, safe='')}", headers=self._headers
            ) as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ReferenceCheckUnavailable(
                f"the sla-tracker could not be reached to check SLA level {name!r} ({exc!r}); "
                "the rule was not saved, try again"
            ) from exc
        if status == 404:
            return False
        if status != 200:
            raise ReferenceCheckUnavailable(
                f"the sla-tracker answered {status} when asked for SLA level {name!r}; "
                "the rule was not saved, try again"
            )
        return True


def _level_references(
    actions: list[dict[str, Any]], conditions: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """(pointer, level name) for every SLA level the rule names."""
    found = [
        (f"actions[{index}].sla_level", action["sla_level"])
        for index, action in enumerate(actions)
        if action["type"] == "change_sla_level"
    ]
    for g, group in enumerate((conditions or {}).get("any", [])):
        for c, condition in enumerate(group.get("all", [])):
            if condition.get("field") != "sla_level" or condition.get("op") not in _LEVEL_OPERATORS:
                continue
            value = condition.get("value")
            pointer = f"conditions.any[{g}].all[{c}].value"
            if isinstance(value, list):
                found.extend((f"{pointer}[{i}]", str(v)) for i, v in enumerate(value))
            elif value is not None:
                found.append((pointer, str(value)))
    return found


async def check_references(
    ticket_api: TicketApiClient,
    sla_levels: SlaLevels,
    actions: list[dict[str, Any]],
    conditions: Mapping[str, Any] | None = None,
) -> None:
    """A 422 naming each action or condition whose department, agent or SLA level does not
    exist (``conditions`` already validated, or None when they are not being set)."""
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
    known: dict[str, bool] = {}
    for pointer, name in _level_references(actions, conditions):
        if name not in known:
            known[name] = await sla_levels.exists(name)
        if not known[name]:
            errors.append(
                {"field": pointer, "message": f"the sla-tracker knows no SLA level {name!r}"}
            )
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]),
            details=errors,
            code="unknown_reference",
        )
