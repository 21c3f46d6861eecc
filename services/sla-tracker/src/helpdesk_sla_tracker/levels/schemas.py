"""The level API's shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from helpdesk_ticket_client.actions import SlaLevel
from pydantic import BaseModel, ConfigDict, Field

# Up to a year of business minutes.
TargetMinutes = Annotated[int, Field(ge=1, le=366 * 24 * 60)]


class LevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_response_minutes: TargetMinutes | None = None
    next_response_minutes: TargetMinutes | None = None
    chat_response_minutes: TargetMinutes | None = None
    call_response_minutes: TargetMinutes | None = None
    calendar_id: uuid.UUID | None = Field(
        default=None, description="business hours to count in; none: around the clock"
    )
    exclude_holidays: bool = True
    warning_minutes: TargetMinutes | None = Field(
        default=None, description="business minutes before the due instant to warn at"
    )


class LevelOut(LevelIn):
    name: SlaLevel
    version: int
    created_at: datetime
    updated_at: datetime


class DepartmentLevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: SlaLevel


class DepartmentLevelOut(BaseModel):
    department_id: uuid.UUID
    level: str
    updated_at: datetime
