"""Rule definitions as the admin API takes and returns them."""

from __future__ import annotations

from typing import Any, Literal

from helpdesk_rule_actions.actions import Action, StrictModel
from helpdesk_rule_actions.schemas import RuleName, RuleNotes, StoredRule
from helpdesk_service.patch import PatchModel
from pydantic import Field

from ..engine.triggers import Trigger


class RuleIn(StrictModel):
    name: RuleName
    notes: RuleNotes | None = None
    kind: Literal["action", "sla"] = "action"
    active: bool = True
    shadow: bool = False
    # Rules run in ascending position; omitted = after the last rule of its kind.
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    trigger: Trigger = "ticket_created"
    conditions: dict[str, Any] = Field(
        description="which tickets the rule acts on (libs/conditions/README.md); "
        '{"every_ticket": true} for every ticket',
        examples=[{"every_ticket": True}],
    )
    actions: list[Action] = Field(min_length=1, max_length=50)


class RulePatch(PatchModel):
    """Fields to change; omitted fields stay as they are. Null clears the notes."""

    nullable = frozenset({"notes"})

    name: RuleName | None = None
    notes: RuleNotes | None = None
    active: bool | None = None
    shadow: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    trigger: Trigger | None = None
    conditions: dict[str, Any] | None = None
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=50)


class RuleOut(StoredRule):
    kind: str
    shadow: bool
    trigger: str
