"""What every kind of rule has in common in the admin APIs: its name and notes as taken, and
the stored rule as returned (action and SLA rules in the rule engine, time rules in the
scheduler add their own fields)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from .references import BrokenReference

RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
RuleNotes = Annotated[str, StringConstraints(max_length=5000)]


class StoredRule(BaseModel):
    id: uuid.UUID
    name: str
    notes: str | None
    active: bool
    position: int
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    broken_reference: BrokenReference

    model_config = ConfigDict(from_attributes=True)
