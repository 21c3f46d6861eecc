"""Storing and editing a rule of any kind: a new rule's row, a patch applied to the rule's
row, and what the patch changed checked again for references."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from helpdesk_ticket_client import TicketApiClient
from pydantic import BaseModel

from .actions import dump_actions
from .references import SlaLevels, check_references

RowT = TypeVar("RowT")


def new_rule_row(row_type: Callable[..., RowT], data: Any, position: int, now: datetime) -> RowT:
    """A ``row_type`` row (a rule table) for the rule the API took as ``data``: its fields,
    the actions as rules store them, at ``position``, created and updated ``now``."""
    return row_type(
        id=uuid.uuid4(),
        **data.model_dump(exclude={"position", "actions"}),
        position=position,
        actions=dump_actions(data.actions),
        created_at=now,
        updated_at=now,
    )


def apply_patch(rule: Any, patch: BaseModel) -> set[str]:
    """Set the fields ``patch`` gives on ``rule`` (actions as rules store them); the names
    of those fields. The patch model refused null where it means nothing."""
    given = set(patch.model_fields_set)
    for name in given:
        value = getattr(patch, name)
        setattr(rule, name, dump_actions(value) if name == "actions" else value)
    if "actions" in given:
        # Checked again now: a reference found broken when the rule fired is settled.
        rule.broken_reference = None
    return given


async def check_patched_references(
    ticket_api: TicketApiClient, sla_levels: SlaLevels, rule: Any, given: set[str]
) -> None:
    """The references of what the patch set (actions, conditions); not of what it left."""
    if given & {"actions", "conditions"}:
        await check_references(
            ticket_api,
            sla_levels,
            rule.actions if "actions" in given else [],
            rule.conditions if "conditions" in given else None,
        )
