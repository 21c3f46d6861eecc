"""Tables of the ``notify`` schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_events import consumer_tables, outbox_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

OUTBOX = outbox_tables(Base.metadata)
# Retention (retention.py) prunes processed marks by age: they are written in time order
# and never updated, so a block-range index on their time serves it.
CONSUMER = consumer_tables(Base.metadata, pruned_by_age=True)


class Endpoint(Base):
    """A receiver of HTTP deliveries: one per origin (scheme, host, port). It holds the
    signing secret, and is disabled when it answers 410 Gone."""

    __tablename__ = "endpoint"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # scheme://host:port, lower-case, the port always written.
    origin: Mapped[str] = mapped_column(String(300), unique=True)
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation, deliveries carry a signature with this one too until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """One thing to send, stored before the first attempt. ``state``: pending (due at
    ``next_attempt_at``; claimed while ``lease_until`` is ahead), delivered, or dead."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index(
            "ix_delivery_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        # The claim counts attempts in flight per endpoint: the leased deliveries, few.
        Index(
            "ix_delivery_leased",
            "endpoint_id",
            postgresql_where=text("lease_until IS NOT NULL"),
        ),
        # For retention: finished deliveries by age (rows are updated, so not BRIN).
        Index(
            "ix_delivery_finished_at",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # What the request is deduplicated by (the rule action's dedupe key).
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    # The OutboundRequest as received.
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("endpoint.id"), index=True
    )
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # ``attempts`` when the current round began: a manual redelivery starts a new round on
    # the full schedule, while attempt numbers in the log keep counting.
    round_start: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(Base):
    """The delivery log: one row per attempt."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_delivery_attempt_delivery", "delivery_id", "number"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("delivery.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    latency_ms: Mapped[float] = mapped_column()
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # When the receiver asked to be called again (Retry-After), if it did.
    retry_after_seconds: Mapped[float | None] = mapped_column()


class AgentNotification(Base):
    """An agent's in-app notification; unread while ``read_at`` is null."""

    __tablename__ = "agent_notification"
    __table_args__ = (
        Index("ix_agent_notification_agent", "agent_id", "id"),
        # For retention: written in time order.
        Index("ix_agent_notification_created_at", "created_at", postgresql_using="brin"),
        UniqueConstraint("event_id", "agent_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgentPreference(Base):
    """An agent's choice for one kind on one channel; without a row the default holds."""

    __tablename__ = "agent_preference"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class AgentChannel(Base):
    """Where a channel reaches an agent: for ``slack``, their incoming-webhook URL."""

    __tablename__ = "agent_channel"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    address: Mapped[str] = mapped_column(Text)
