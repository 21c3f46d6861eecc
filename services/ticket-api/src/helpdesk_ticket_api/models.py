"""Tables of the ``tickets`` schema: ticket-api is the system of record for all of them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_events import consumer_tables, outbox_tables
from helpdesk_events.vocabulary import PRIORITIES, STATUSES
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    Uuid,
    literal_column,
    text,
)

# The PostgreSQL ARRAY: its comparators (contains / @>) are what the tag filter uses.
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

# Channels an agent's availability is tracked on (the router distributes work per channel).
AVAILABILITY_CHANNELS = ("email", "chat", "call", "social")

OUTBOX = outbox_tables(Base.metadata)
CONSUMER = consumer_tables(Base.metadata)

ticket_number_seq = Sequence("ticket_number_seq", metadata=Base.metadata)


def _enum_check(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


def _member_key(target: str, *, index: bool = False) -> Mapped[uuid.UUID]:
    """One half of a membership table's primary key: a reference to ``target`` (``table.id``)
    whose rows go with the row they point to."""
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), primary_key=True, index=index)


class _Record:
    """A row known by a random UUID, with the time it was created."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class _EditedRecord(_Record):
    """A row that changes after it is created: the time of its last change, too."""

    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), sort_order=1)


class ApiKey(_Record, Base):
    __tablename__ = "api_key"
    __table_args__ = (_enum_check("role", ("admin", "agent", "service")),)

    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so an admin can tell keys apart without the secret.
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(20))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Department(_EditedRecord, Base):
    __tablename__ = "department"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class Agent(_EditedRecord, Base):
    __tablename__ = "agent"
    __table_args__ = (_enum_check("role", ("admin", "agent")),)

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # channel -> online / away / offline
    availability: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=text("'{}'"))


class AgentDepartment(Base):
    __tablename__ = "agent_department"

    agent_id: Mapped[uuid.UUID] = _member_key("agent.id")
    department_id: Mapped[uuid.UUID] = _member_key("department.id", index=True)


class CustomerGroup(_Record, Base):
    __tablename__ = "customer_group"

    name: Mapped[str] = mapped_column(String(200), unique=True)


class Customer(_EditedRecord, Base):
    __tablename__ = "customer"

    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(50))


class CustomerGroupMember(Base):
    __tablename__ = "customer_group_member"

    customer_id: Mapped[uuid.UUID] = _member_key("customer.id")
    group_id: Mapped[uuid.UUID] = _member_key("customer_group.id", index=True)


class Tag(_Record, Base):
    __tablename__ = "tag"

    name: Mapped[str] = mapped_column(String(50), unique=True)
    color: Mapped[str | None] = mapped_column(String(20))


class CustomFieldDefinition(_Record, Base):
    __tablename__ = "custom_field"
    __table_args__ = (_enum_check("type", ("text", "number", "boolean", "date", "select")),)

    key: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    options: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'"))


# Time columns that time rules and searches test by range (b-tree each, migration 0002).
SEARCHED_TIMES = (
    "updated_at",
    "status_changed_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "last_message_at",
)
# Of the searched times, those a ticket may lack. helpdesk_conditions tests them as
# ``column IS NOT NULL AND …``, so their indexes hold only the rows where they are set and
# an update of a ticket without them writes no entry there (migration 0006).
NULLABLE_SEARCHED_TIMES = (
    "sla_due_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "last_message_at",
)


def _time_index(column: str) -> Index:
    if column in NULLABLE_SEARCHED_TIMES:
        return Index(f"ix_ticket_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"))
    return Index(f"ix_ticket_{column}", column)


# The case-folded subject as helpdesk_conditions.sql_fold() emits it, so that its trigram
# index serves "subject contains / starts with / ends with / is" (migration 0002).
FOLDED_SUBJECT = """translate(lower(subject COLLATE "und-x-icu"), '\u03c2', '\u03c3')"""


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        _enum_check("status", STATUSES),
        _enum_check("priority", PRIORITIES),
        Index("ix_ticket_created", "created_at", "id"),
        Index("ix_ticket_department_created", "department_id", "created_at", "id"),
        Index("ix_ticket_agent_created", "agent_id", "created_at", "id"),
        Index("ix_ticket_customer", "customer_id"),
        Index("ix_ticket_status", "status"),
        Index("ix_ticket_tags", "tags", postgresql_using="gin"),
        # Migration 0002: for condition searches and time rules; migration 0005: "SLA due
        # within 30 minutes" in rules' searches.
        *(_time_index(column) for column in (*SEARCHED_TIMES, "sla_due_at")),
        Index(
            "ix_ticket_subject_folded_trgm",
            literal_column(FOLDED_SUBJECT).label("folded_subject"),
            postgresql_using="gin",
            postgresql_ops={"folded_subject": "gin_trgm_ops"},
        ),
        Index(
            "ix_ticket_custom_fields",
            "custom_fields",
            postgresql_using="gin",
            postgresql_ops={"custom_fields": "jsonb_path_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    number: Mapped[int] = mapped_column(
        BigInteger, ticket_number_seq, server_default=ticket_number_seq.next_value(), unique=True
    )
    code: Mapped[str] = mapped_column(String(32), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(10))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("department.id"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id"))
    sla_level: Mapped[str | None] = mapped_column(String(100))
    # The SLA state the sla-tracker writes back (set_sla_state): when the running response
    # clock is due, whether the SLA is missed, and the stamp of that state (a write-back
    # with a stamp not above it is stale and changes nothing). Migration 0005.
    sla_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    sla_stamp: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), server_default=text("'{}'"))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    referrer_url: Mapped[str | None] = mapped_column(String(2000))
    created_from_invitation: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_customer_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_customer_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_agent_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_agent_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_message_author: Mapped[str | None] = mapped_column(String(10))
    last_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    message_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    version: Mapped[int] = mapped_column(Integer, default=1)


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        _enum_check("author_kind", ("customer", "agent", "system")),
        Index("ix_message_ticket_created", "ticket_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    author_kind: Mapped[str] = mapped_column(String(10))
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    internal: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    from_address: Mapped[str | None] = mapped_column(String(320))
    to: Mapped[list[str]] = mapped_column(ARRAY(String(320)), server_default=text("'{}'"))
    cc: Mapped[list[str]] = mapped_column(ARRAY(String(320)), server_default=text("'{}'"))
    bcc: Mapped[list[str]] = mapped_column(ARRAY(String(320)), server_default=text("'{}'"))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Rating(Base):
    __tablename__ = "rating"
    __table_args__ = (_enum_check("rating", ("good", "neutral", "bad")),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL")
    )
    rating: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HistoryEntry(Base):
    """One changed field of a ticket, with who or what changed it and why."""

    __tablename__ = "ticket_history"
    __table_args__ = (Index("ix_ticket_history_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # No foreign key: the history of a purged ticket is kept for audit.
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    field: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[Any] = mapped_column(JSONB, nullable=True)
    after: Mapped[Any] = mapped_column(JSONB, nullable=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    correlation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    causation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    depth: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    note: Mapped[str | None] = mapped_column(Text)


class IdempotencyRecord(Base):
    """The stored outcome of a request made with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_key"
    # Pruned by age (the relay; migration 0004).
    __table_args__ = (
        Index("ix_idempotency_key_created_at", "created_at", postgresql_using="brin"),
    )

    principal_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
