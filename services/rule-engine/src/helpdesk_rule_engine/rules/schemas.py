"""Rule definitions as the admin API takes and returns them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from helpdesk_rule_actions.actions import Action, StrictModel
from helpdesk_rule_actions.references import BrokenReference
from helpdesk_service.patch import PatchModel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..engine.triggers import Trigger


class RuleIn(StrictModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
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

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    active: bool | None = None
    shadow: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    trigger: Trigger | None = None
    conditions: dict[str, Any] | None = None
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=50)


class RuleOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    notes: str | None
    active: bool
    shadow: bool
    position: int
    trigger: str
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    broken_reference: BrokenReference

    model_config = ConfigDict(from_attributes=True)
