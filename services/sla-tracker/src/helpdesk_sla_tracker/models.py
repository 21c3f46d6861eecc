"""Tables of the ``sla`` schema.

Calendars and levels are versioned: an edit adds a version row and moves the head's
``version``; nothing a clock used is ever rewritten, so a clock names the versions it ran on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_events import consumer_tables, outbox_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

OUTBOX = outbox_tables(Base.metadata)
CONSUMER = consumer_tables(Base.metadata)


class Calendar(Base):
    __tablename__ = "calendar"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The current version; every version stays in calendar_version.
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CalendarVersion(Base):
    __tablename__ = "calendar_version"

    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Calendar.id), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(100))
    # {"monday": [{"start": "09:00", "end": "17:00", "overnight": false}, …], …}
    hours: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # [{"date": "2026-12-24", "name": "…"}, …] and [{"month": 1, "day": 1, "name": "…"}, …]
    holidays: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    yearly_holidays: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Level(Base):
    """An SLA level, named as tickets name it (the snapshot's ``sla_level``)."""

    __tablename__ = "level"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LevelVersion(Base):
    __tablename__ = "level_version"

    level_name: Mapped[str] = mapped_column(ForeignKey(Level.name), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Response targets in business minutes; None: the level sets no such target.
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer)
    chat_response_minutes: Mapped[int | None] = mapped_column(Integer)
    call_response_minutes: Mapped[int | None] = mapped_column(Integer)
    # None: around the clock.
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(Calendar.id))
    exclude_holidays: Mapped[bool] = mapped_column(Boolean)
    # Business minutes before the due instant at which sla.warning is published.
    warning_minutes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Join conditions: the version row is its head's current one.
CURRENT_CALENDAR_VERSION = (CalendarVersion.calendar_id == Calendar.id) & (
    CalendarVersion.version == Calendar.version
)
CURRENT_LEVEL_VERSION = (LevelVersion.level_name == Level.name) & (
    LevelVersion.version == Level.version
)


class DepartmentLevel(Base):
    """The level a department's tickets get when neither a rule nor an agent set one."""

    __tablename__ = "department_level"

    department_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    level_name: Mapped[str] = mapped_column(ForeignKey(Level.name))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Clock(Base):
    """One response target of one ticket: from the customer's message (or the ticket's
    creation) to the agent's reply, in the level's business time."""

    __tablename__ = "clock"
    __table_args__ = (
        Index("ix_clock_ticket", "ticket_id"),
        # Reports select a period of clock starts; the SLA log pages through it in the
        # order of each of these (so a page is read, not the whole period sorted).
        Index("ix_clock_started_at", "started_at", "id"),
        Index("ix_clock_agent_started_at", "agent_id", "started_at", "id"),
        Index("ix_clock_department_started_at", "department_id", "started_at", "id"),
        # The open clocks, for the scan and for recomputing on a level or calendar change.
        Index("ix_clock_open_due", "due_at", postgresql_where=text("closed_at IS NULL")),
        Index("ix_clock_open_level", "level_name", postgresql_where=text("closed_at IS NULL")),
        # What the scan looks for: running clocks whose warning or breach has not fired.
        Index(
            "ix_clock_breach_pending",
            "due_at",
            postgresql_where=text("state = 'running' AND breached_at IS NULL"),
        ),
        Index(
            "ix_clock_warning_pending",
            "warn_at",
            postgresql_where=text("state = 'running' AND warned_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    ticket_code: Mapped[str] = mapped_column(String(50))
    # first_response | next_response | chat_response | call_response
    kind: Mapped[str] = mapped_column(String(20))
    level_name: Mapped[str] = mapped_column(String(100))
    level_version: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    calendar_version: Mapped[int | None] = mapped_column(Integer)
    target_minutes: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # [[start, end], …]: the times the ticket waited on the customer or was closed.
    pauses: Mapped[list[list[str]]] = mapped_column(JSONB)
    paused_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # running | paused (waits on the customer) | stopped (resolved, spam, deleted) |
    # achieved | missed
    state: Mapped[str] = mapped_column(String(10))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Running business minutes from the start to the reply (closed clocks).
    business_minutes: Mapped[float | None] = mapped_column(Float)
    late: Mapped[bool] = mapped_column(Boolean)
    # When sla.warning is due (the level's warning threshold), and when the scan published
    # it and sla.breached: each at most once per clock.
    warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Every (re)computation: [{"at", "reason", "level_version", "calendar_version", "due_at"}]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketState(Base):
    """The newest ticket snapshot seen, which sla.warning and sla.breached carry (rules
    evaluate their conditions on it), and the ticket's SLA state as its clocks make it,
    to be written back to ticket-api (clocks/ticket_sla.py)."""

    __tablename__ = "ticket_state"
    __table_args__ = (
        # The states still to write back (migration 0005).
        Index(
            "ix_ticket_state_sla_unwritten",
            "ticket_id",
            postgresql_where=text("sla_stamp > sla_written_stamp"),
        ),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The running clock's due instant (None: none running) and whether the SLA is missed.
    sla_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_late: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Counts the ticket's SLA states up; ticket-api keeps the stamp of the state it shows
    # and ignores older ones. ``sla_written_stamp``: the last one ticket-api has answered.
    sla_stamp: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    sla_written_stamp: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
