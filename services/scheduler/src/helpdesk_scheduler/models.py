"""Tables of the ``scheduler`` schema: the time rules and the ledger of their firings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_events import outbox_tables
from helpdesk_service.table_mixins import RuleDefinition
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

# Notifier requests of fired rules (send_answer, send_email, …), published by the ticker.
OUTBOX = outbox_tables(Base.metadata)


class TimeRule(RuleDefinition, Base):
    __tablename__ = "time_rule"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    # Rules run in ascending position in a tick.
    position: Mapped[int] = mapped_column(Integer)


class Firing(Base):
    """The ledger: a rule fires on a ticket once per episode (``anchor``: the ticket's last
    activity by a person). A row is written ``claimed`` with the batch it will send before
    the write-back, and settled after it: a tick killed in between resends the same batch
    with the same idempotency key, so the write-back happens once."""

    __tablename__ = "firing"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("time_rule.id", ondelete="CASCADE"), primary_key=True
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    anchor: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # claimed (write-back not settled yet), fired, failed (ticket-api refused it).
    state: Mapped[str] = mapped_column(String(10))
    # The instant the tick ran for, and when the row was claimed and settled.
    tick_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The ActionBatch sent to ticket-api, and the notifier requests queued once it applied.
    batch: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outbound: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
