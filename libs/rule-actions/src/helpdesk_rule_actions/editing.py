"""Editing a stored rule of any kind: a patch applied to the rule's row, and what the patch
changed checked again for references."""

from __future__ import annotations

from typing import Any

from helpdesk_ticket_client import TicketApiClient
from pydantic import BaseModel

from .actions import dump_actions
from .references import SlaLevels, check_references


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
