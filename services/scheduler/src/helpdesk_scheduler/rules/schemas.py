"""Time rules as the admin API takes and returns them."""

from __future__ import annotations

from typing import Any

from helpdesk_conditions import awaiting_customer_48_hours
from helpdesk_rule_actions.actions import Action, StrictModel
from helpdesk_rule_actions.schemas import RuleName, RuleNotes, StoredRule
from helpdesk_service.patch import PatchModel
from pydantic import Field

CONDITIONS_DESCRIPTION = (
    "which tickets the rule acts on (libs/conditions/README.md), time conditions included: "
    'e.g. {"field": "last_customer_message_at", "op": "older_than", "value": 48, '
    '"unit": "hours"}; {"every_ticket": true} for every ticket'
)


class TimeRuleIn(StrictModel):
    name: RuleName
    notes: RuleNotes | None = None
    active: bool = True
    # Rules run in ascending position in a tick; omitted = after the last rule.
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    conditions: dict[str, Any] = Field(
        description=CONDITIONS_DESCRIPTION,
        examples=[{"any": [{"all": awaiting_customer_48_hours()}]}],
    )
    actions: list[Action] = Field(min_length=1, max_length=50)


class TimeRulePatch(PatchModel):
    """Fields to change; omitted fields stay as they are. Null clears the notes."""

    nullable = frozenset({"notes"})

    name: RuleName | None = None
    notes: RuleNotes | None = None
    active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    conditions: dict[str, Any] | None = Field(default=None, description=CONDITIONS_DESCRIPTION)
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=50)


class TimeRuleOut(StoredRule):
    """A time rule as stored: the fields every kind of rule has, nothing more."""
