"""The scan: running clocks whose warning or due instant has passed get ``warned_at`` /
``breached_at`` (and ``late``) set, and the matching ``sla.warning`` / ``sla.breached``
queued in this service's outbox, in one transaction.

Several scanners may run: each claims its clocks with ``FOR UPDATE SKIP LOCKED`` and the
update re-checks that the mark is still unset, so a clock fires once whoever scans, however
often, and whatever was killed half-way (an uncommitted claim is simply claimed again). The
event ids derive from the clock's, so even a repeat would be the same event to consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from helpdesk_events import (
    Actor,
    Clock,
    SlaBreached,
    SlaTarget,
    SlaWarning,
    TicketSnapshot,
    Topics,
    add_to_outbox,
)
from helpdesk_ticket_client import TicketApiClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clocks.ticket_sla import note_ticket_states, write_back_ticket_states
from ..models import OUTBOX

log = logging.getLogger(__name__)

# Event ids of warnings and breaches: uuid5 of the clock id under this namespace.
_EVENT_IDS = uuid.UUID("6f1c5d0e-3f7a-4b8e-9a51-2f0d7c1e4b93")

_CLAIM = {
    "breach": (
        # A breach also settles the warning: none is sent after it.
        "UPDATE sla.clock SET breached_at = :now, late = true, updated_at = :now, "
        "warned_at = COALESCE(warned_at, :now) "
        "WHERE id IN (SELECT id FROM sla.clock WHERE state = 'running' AND breached_at IS NULL "
        "AND due_at <= :now ORDER BY due_at LIMIT :batch FOR UPDATE SKIP LOCKED) "
        "AND breached_at IS NULL "
        "RETURNING id, ticket_id, kind, level_name, due_at, due_at AS fired_for"
    ),
    "warning": (
        "UPDATE sla.clock SET warned_at = :now, updated_at = :now "
        "WHERE id IN (SELECT id FROM sla.clock WHERE state = 'running' AND warned_at IS NULL "
        "AND warn_at <= :now ORDER BY warn_at LIMIT :batch "
        "FOR UPDATE SKIP LOCKED) AND warned_at IS NULL "
        "RETURNING id, ticket_id, kind, level_name, due_at, warn_at AS fired_for"
    ),
}


@dataclass
class ScanResult:
    warned: int = 0
    breached: int = 0


def _event(
    kind: Literal["breach", "warning"], row: Any, snapshot: dict[str, Any]
) -> SlaBreached | SlaWarning:
    clock_id: uuid.UUID = row.id
    event_id = uuid.uuid5(_EVENT_IDS, f"{clock_id}:{kind}")
    fields = {
        "id": event_id,
        "occurred_at": row.fired_for,
        "ticket_id": row.ticket_id,
        "ticket": TicketSnapshot.model_validate(snapshot),
        "actor": Actor(kind="sla_tracker"),
        "correlation_id": event_id,
        "sla": SlaTarget(level=row.level_name, target=row.kind, due_at=row.due_at),
    }
    return SlaBreached(**fields) if kind == "breach" else SlaWarning(**fields)


async def _claim(
    session: AsyncSession,
    kind: Literal["breach", "warning"],
    now: datetime,
    batch: int,
    topics: Topics,
) -> int:
    rows = (await session.execute(text(_CLAIM[kind]), {"now": now, "batch": batch})).all()
    if not rows:
        return 0
    snapshots: dict[uuid.UUID, dict[str, Any]] = dict(
        (
            await session.execute(
                text(
                    "SELECT ticket_id, snapshot FROM sla.ticket_state WHERE ticket_id = ANY(:ids)"
                ),
                {"ids": list({row.ticket_id for row in rows})},
            )
        ).all()
    )
    events = [_event(kind, row, snapshots[row.ticket_id]) for row in rows]
    await add_to_outbox(session, OUTBOX, topics.sla, events)
    if kind == "breach":
        # A breached ticket is late: its state goes back to ticket-api.
        await note_ticket_states(session, snapshots.keys())
    return len(rows)


async def scan(
    sessions: async_sessionmaker[AsyncSession], topics: Topics, now: datetime, batch: int = 1000
) -> ScanResult:
    """Fire every warning and breach due at ``now``, a batch per transaction."""
    result = ScanResult()
    for kind in ("breach", "warning"):
        while True:
            async with sessions() as session, session.begin():
                claimed = await _claim(session, kind, now, batch, topics)
            if kind == "breach":
                result.breached += claimed
            else:
                result.warned += claimed
            if claimed < batch:
                break
    return result


async def scan_until_stopped(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    ticket_api: TicketApiClient,
    clock: Clock,
    stop: asyncio.Event,
    interval: float,
) -> None:
    """The scanner's loop until ``stop`` is set: every ``interval`` seconds a scan, then
    the tickets' SLA states not yet written back to ticket-api (clocks/ticket_sla.py)."""
    while not stop.is_set():
        try:
            result = await scan(sessions, topics, clock.now())
            if result.warned or result.breached:
                log.info("scan: %d warnings, %d breaches", result.warned, result.breached)
            await write_back_ticket_states(sessions, ticket_api)
        except Exception:
            # The database may be restarting; the next round picks up what this one missed.
            log.exception("scan failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
