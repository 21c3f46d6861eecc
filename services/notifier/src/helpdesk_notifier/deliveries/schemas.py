"""What the deliveries and endpoints API reads and returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    started_at: datetime
    latency_ms: float
    status_code: int | None
    error: str | None
    retry_after_seconds: float | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    # The webhook-id header of every attempt.
    webhook_id: str
    dedupe_key: str
    kind: str
    request: dict[str, Any]
    endpoint_id: uuid.UUID | None
    event_id: uuid.UUID | None
    ticket_id: uuid.UUID | None
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="Any URL of the endpoint; its origin counts.")


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    origin: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How long deliveries are also signed with the old secret, for receivers to switch.
    keep_previous_hours: float = Field(default=24, ge=0, le=24 * 30)
