"""The ticket's SLA state — when its running response clock is due, whether its SLA is
missed — written back to ticket-api (the ``set_sla_state`` action), so clients and rule
conditions see it on the ticket.

Two steps, so no HTTP call runs inside a clock transaction:

1. ``note_ticket_states`` (in the transaction that changed the clocks: an event's handler,
   the scan's breach claim, a level or calendar edit) works the state out from the ticket's
   clocks and, when it differs from the last one, stores it with the next ``sla_stamp``.
2. ``write_back_ticket_states`` (the scanner's loop) sends the states ticket-api has not
   answered yet. The Idempotency-Key is ``sla-state:<ticket>:<stamp>``, so a repeat (two
   scanners, a crash before marking) is replayed, not applied twice; ticket-api ignores a
   stamp not above the one the ticket shows, so an older state sent late cannot undo a newer.

The write-back's own ``ticket.updated`` changes only ``sla_due_at`` / ``sla_late``: the
handlers recompute nothing for it, and the state it leads to is the one stored, so nothing
new is stamped (no loop).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helpdesk_ticket_client import TicketApiClient, TicketApiError
from helpdesk_ticket_client.actions import ActionActor, ActionBatch, SetSlaStateAction
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)

# The ticket's state is its open clock's (there is at most one), else its latest clock's: a
# due instant only while that clock runs; late once it breached or was answered late.
_NOTE_STATES = text(
    """
    UPDATE sla.ticket_state AS s
    SET sla_due_at = c.due_at, sla_late = c.late, sla_stamp = s.sla_stamp + 1
    FROM (
        SELECT DISTINCT ON (ticket_id)
               ticket_id, CASE WHEN state = 'running' THEN due_at END AS due_at, late
        FROM sla.clock
        WHERE ticket_id = ANY(:ids)
        ORDER BY ticket_id, closed_at IS NULL DESC, started_at DESC, id DESC
    ) AS c
    WHERE s.ticket_id = c.ticket_id
      AND (s.sla_due_at IS DISTINCT FROM c.due_at OR s.sla_late IS DISTINCT FROM c.late)
    """
)
_UNWRITTEN = text(
    "SELECT ticket_id, sla_due_at, sla_late, sla_stamp FROM sla.ticket_state "
    "WHERE sla_stamp > sla_written_stamp ORDER BY ticket_id LIMIT :batch"
)
_MARK_WRITTEN = text(
    "UPDATE sla.ticket_state SET sla_written_stamp = :stamp "
    "WHERE ticket_id = :ticket_id AND sla_written_stamp < :stamp"
)
_ACTOR = ActionActor(kind="sla_tracker", name="sla-tracker")


async def note_ticket_states(session: AsyncSession, ticket_ids: Collection[uuid.UUID]) -> None:
    """Stamp the tickets' SLA states that their clocks changed, in the caller's
    transaction."""
    if not ticket_ids:
        return
    # The clocks changed through the ORM; the statement reads them from the database.
    await session.flush()
    await session.execute(_NOTE_STATES, {"ids": list(ticket_ids)})


@dataclass
class StatesWritten:
    written: int = 0
    # ticket-api refused for good (the ticket was purged, …): not tried again.
    refused: int = 0


def write_back_key(ticket_id: uuid.UUID, stamp: int) -> str:
    return f"sla-state:{ticket_id}:{stamp}"


def state_batch(due_at: datetime | None, late: bool, stamp: int) -> ActionBatch:
    return ActionBatch(
        actor=_ACTOR,
        actions=[SetSlaStateAction(type="set_sla_state", due_at=due_at, late=late, stamp=stamp)],
    )


async def write_back_ticket_states(
    sessions: async_sessionmaker[AsyncSession], ticket_api: TicketApiClient, batch: int = 200
) -> StatesWritten:
    """Send every SLA state ticket-api has not answered yet, a batch at a time. ticket-api
    unreachable (or the key refused) ends the round: the states stay for the next one."""
    result = StatesWritten()
    while True:
        async with sessions() as session:
            rows = (await session.execute(_UNWRITTEN, {"batch": batch})).all()
        if not rows:
            return result
        outcomes = await asyncio.gather(
            *(_write_back(ticket_api, row) for row in rows), return_exceptions=True
        )
        answered = [
            (row, applied)
            for row, applied in zip(rows, outcomes, strict=True)
            if isinstance(applied, bool)
        ]
        if answered:
            async with sessions() as session, session.begin():
                for row, _ in answered:
                    await session.execute(
                        _MARK_WRITTEN, {"ticket_id": row.ticket_id, "stamp": row.sla_stamp}
                    )
        result.written += sum(1 for _, applied in answered if applied)
        result.refused += sum(1 for _, applied in answered if not applied)
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failed:
            log.warning("SLA state write-back paused: %r", failed[0])
            return result
        if len(rows) < batch:
            return result


async def _write_back(ticket_api: TicketApiClient, row: Any) -> bool:
    """True: applied (or stale, which ticket-api answers the same); False: refused for
    good. Raises when retrying later may succeed."""
    response = await ticket_api.apply_actions(
        row.ticket_id,
        state_batch(row.sla_due_at, row.sla_late, row.sla_stamp),
        write_back_key(row.ticket_id, row.sla_stamp),
    )
    if response.ok:
        return True
    if response.status_code in (401, 403):
        raise TicketApiError(f"ticket-api refused the service key ({response.status_code})")
    if response.refused:
        log.warning(
            "ticket-api refused the SLA state of ticket %s (%d): %s",
            row.ticket_id,
            response.status_code,
            response.body.get("error", {}).get("message"),
        )
        return False
    raise TicketApiError(f"ticket-api answered {response.status_code}")
