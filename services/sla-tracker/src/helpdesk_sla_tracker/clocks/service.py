"""What happens to a ticket's clocks: start, pause, resume, close, recompute. The caller
commits; every change is computed from the clock's history (clocks/timing.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from helpdesk_events import TicketSnapshot
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Clock
from .levels import ResolvedLevel, resolve_level
from .ticket_sla import note_ticket_states
from .timing import Pause, due_at, elapsed_minutes

# Statuses in which the ticket waits on the customer, and those that end the work on it.
PAUSING_STATUSES = frozenset({"answered", "postponed"})
STOPPING_STATUSES = frozenset({"resolved", "spam", "deleted"})
OPEN_STATES = ("running", "paused", "stopped")


def target_kind(channel: str, *, first: bool) -> str:
    """Chat and call tickets answer to their channel's target; others to first or next."""
    if channel == "chat":
        return "chat_response"
    if channel == "call":
        return "call_response"
    return "first_response" if first else "next_response"


def _pauses(clock: Clock) -> list[Pause]:
    return [
        (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in clock.pauses
    ]


async def open_clocks(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[Clock]:
    return (
        await session.scalars(
            select(Clock)
            .where(Clock.ticket_id == ticket_id, Clock.closed_at.is_(None))
            .order_by(Clock.started_at)
            .with_for_update()
        )
    ).all()


async def has_clocks(session: AsyncSession, ticket_id: uuid.UUID) -> bool:
    return (
        await session.scalar(select(Clock.id).where(Clock.ticket_id == ticket_id).limit(1))
    ) is not None


def _record(clock: Clock, at: datetime, reason: str) -> None:
    clock.history = [
        *clock.history,
        {
            "at": at.isoformat(),
            "reason": reason,
            "level": clock.level_name,
            "level_version": clock.level_version,
            "calendar_version": clock.calendar_version,
            "target_minutes": clock.target_minutes,
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
        },
    ]


def _apply_level(clock: Clock, level: ResolvedLevel, target: int) -> None:
    clock.level_name = level.name
    clock.level_version = level.version
    clock.calendar_id = level.calendar_id
    clock.calendar_version = level.calendar_version
    clock.target_minutes = target
    pauses = _pauses(clock)
    clock.due_at = due_at(clock.started_at, pauses, clock.paused_since, target, level.calendar)
    warning = level.warning_minutes
    clock.warn_at = (
        due_at(clock.started_at, pauses, clock.paused_since, target - warning, level.calendar)
        if warning is not None and warning < target
        else None
    )


def start_clock(
    session: AsyncSession,
    ticket: TicketSnapshot,
    kind: str,
    started_at: datetime,
    level: ResolvedLevel,
    now: datetime,
) -> Clock | None:
    """A new clock for ``kind``; None when the level sets no such target."""
    target = level.targets.get(kind)
    if target is None:
        return None
    waiting = ticket.status in PAUSING_STATUSES or ticket.status in STOPPING_STATUSES
    clock = Clock(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        ticket_code=ticket.code,
        kind=kind,
        department_id=ticket.department_id,
        agent_id=ticket.agent_id,
        customer_id=ticket.customer_id,
        customer_email=ticket.customer_email,
        started_at=started_at,
        pauses=[],
        paused_since=started_at if waiting else None,
        state=_waiting_state(ticket.status) if waiting else "running",
        closed_at=None,
        business_minutes=None,
        late=False,
        warned_at=None,
        breached_at=None,
        history=[],
        updated_at=now,
    )
    _apply_level(clock, level, target)
    _record(clock, now, "started")
    session.add(clock)
    return clock


def _waiting_state(status: str) -> Literal["paused", "stopped"]:
    return "paused" if status in PAUSING_STATUSES else "stopped"


def follow_status(
    clock: Clock, status: str, at: datetime, level: ResolvedLevel, now: datetime
) -> None:
    """Pause on waiting statuses, stop on closing ones, run again otherwise (a reopen)."""
    waiting = status in PAUSING_STATUSES or status in STOPPING_STATUSES
    if waiting:
        if clock.paused_since is None:
            clock.paused_since = max(at, clock.started_at)
            clock.due_at = None
            clock.warn_at = None
        clock.state = _waiting_state(status)
    elif clock.paused_since is not None:
        resumed = max(at, clock.paused_since)
        clock.pauses = [*clock.pauses, [clock.paused_since.isoformat(), resumed.isoformat()]]
        clock.paused_since = None
        clock.state = "running"
        _apply_level(clock, level, clock.target_minutes)
    else:
        return
    clock.updated_at = now
    _record(clock, now, f"status {status}")


def close_clock(clock: Clock, replied_at: datetime, level: ResolvedLevel, now: datetime) -> None:
    """The agent replied: achieved by the due instant, missed after it."""
    replied_at = max(replied_at, clock.started_at)
    minutes = elapsed_minutes(
        clock.started_at, _pauses(clock), clock.paused_since, replied_at, level.calendar
    )
    clock.business_minutes = minutes
    clock.closed_at = replied_at
    clock.late = minutes > clock.target_minutes
    clock.state = "missed" if clock.late else "achieved"
    clock.updated_at = now
    _record(clock, now, clock.state)


def change_level(clock: Clock, level: ResolvedLevel, now: datetime, reason: str) -> None:
    """Recompute an open clock on another level, or on a new version of its own; a level
    without this clock's target closes it without a result."""
    target = level.targets.get(clock.kind)
    if target is None:
        clock.state = "cancelled"
        clock.closed_at = now
        clock.due_at = None
        clock.warn_at = None
    else:
        _apply_level(clock, level, target)
    clock.updated_at = now
    _record(clock, now, reason)


async def clock_level(session: AsyncSession, clock: Clock) -> ResolvedLevel:
    """The level versions the clock was computed with."""
    level = await resolve_level(
        session,
        clock.level_name,
        level_version=clock.level_version,
        calendar_version=clock.calendar_version,
    )
    assert level is not None, "a clock names an existing level version"
    return level


async def recompute_open_clocks(
    session: AsyncSession, level_names: Sequence[str], now: datetime, reason: str
) -> int:
    """After a level or calendar edit: every open clock on those levels moves to their
    current versions. Closed clocks keep what they were measured with."""
    count = 0
    tickets: set[uuid.UUID] = set()
    for name in level_names:
        level = await resolve_level(session, name)
        if level is None:
            continue
        clocks = await session.scalars(
            select(Clock)
            .where(Clock.level_name == name, Clock.closed_at.is_(None))
            .with_for_update()
        )
        for clock in clocks:
            change_level(clock, level, now, reason)
            tickets.add(clock.ticket_id)
            count += 1
    await session.flush()
    await note_ticket_states(session, tickets)
    return count


class ClockOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    kind: str
    state: str
    level: str = Field(validation_alias="level_name")
    level_version: int
    calendar_id: uuid.UUID | None
    calendar_version: int | None
    target_minutes: int
    started_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    business_minutes: float | None
    late: bool
    warn_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    history: list[dict[str, Any]]


def describe(clock: Clock) -> dict[str, Any]:
    return ClockOut.model_validate(clock).model_dump(mode="json")
