"""Ticket events: keep each ticket's routing row at its latest version, route tickets that
start waiting, and hand the slot a ticket frees to waiting work.

Every ticket event carries the ticket after the change with its ``version``; a row is only
ever replaced by a newer version, so redelivered, duplicated and out-of-order events leave
it — and the loads kept from it — as the newest event said.

The row, the processed mark and a decision's reservation commit together in one short
transaction; the write-back to ticket-api and the work that flows to an agent who freed
a slot follow it, each decision in a transaction of its own (routing/assignment.py)."""

from __future__ import annotations

from helpdesk_events import HandlerContext, TicketEventBase, TicketPurged, TicketSnapshot

from ..models import ASSIGNED, CLOSED, LOADED, OFFERED, UNROUTED, WAITING
from ..routing.assignment import lock_agent
from ..routing.distribution import Distributor, Routed, Waiting
from ..routing.offers import withdraw_offers
from ..routing.policies import routing_channel
from .claim import claim

# Events of every type move the ticket's version, and the router writes back at the
# version it saw, so it follows them all.
TICKET_EVENTS = (
    "ticket.created",
    "ticket.updated",
    "ticket.status_changed",
    "ticket.transferred",
    "ticket.tags_changed",
    "ticket.deleted",
    "ticket.restored",
    "ticket.purged",
    "ticket.rated",
    "message.added",
    "sla.breached",
)
# Statuses in which a ticket is nobody's work any more.
CLOSED_STATUSES = ("resolved", "spam", "deleted")


def routing_state(ticket: TicketSnapshot, purged: bool) -> str:
    if purged or ticket.deleted_at is not None or ticket.status in CLOSED_STATUSES:
        return CLOSED
    if ticket.agent_id is not None:
        return ASSIGNED
    if ticket.department_id is not None:
        return WAITING
    return UNROUTED


# The ticket's row, locked for the event's transaction, and written back as the event says.
_LOCK = (
    "SELECT state, agent_id, department_id, channel, version, retry_routing "
    "FROM routing.ticket WHERE id = $1 FOR UPDATE"
)
# The ticket's row as the event says; created_at is kept from its first event, and
# assigned_at moves only when the ticket is newly assigned ($7). sla_due_at follows every
# event, so a due date set or moved later re-orders the queue. A row that another event
# of the ticket created at the same instant (a redelivery during a rebalance) is replaced
# only by a newer version.
_WRITE = """
INSERT INTO routing.ticket
    (id, department_id, channel, agent_id, state, version, created_at, sla_due_at,
     assigned_at, retry_routing)
VALUES ($1, $2, $3, $4, $5, $6, $9, $10, CASE WHEN $7 THEN $8::timestamptz END, false)
ON CONFLICT (id) DO UPDATE SET
    department_id = excluded.department_id, channel = excluded.channel,
    agent_id = excluded.agent_id, state = excluded.state, version = excluded.version,
    sla_due_at = excluded.sla_due_at,
    assigned_at = CASE WHEN $7 THEN $8 ELSE routing.ticket.assigned_at END,
    retry_routing = false
WHERE routing.ticket.version < excluded.version
"""


class TicketHandlers:
    def __init__(self, distributor: Distributor) -> None:
        self._distributor = distributor

    async def on_ticket_event(self, event: TicketEventBase, ctx: HandlerContext) -> None:
        snapshot = event.ticket
        db = await ctx.driver_connection()
        now = ctx.clock.now()
        routed: Routed | None = None
        freed = None
        async with db.transaction():
            if not await claim(db, ctx):
                return
            row = await db.fetchrow(_LOCK, snapshot.id)
            if row is not None and row["version"] >= snapshot.version:
                return
            state = routing_state(snapshot, isinstance(event, TicketPurged))
            channel = routing_channel(snapshot.channel)
            if row is None:
                starts_waiting = state in (WAITING, UNROUTED)
                newly_assigned = state == ASSIGNED
            else:
                if row["state"] == OFFERED:
                    if (
                        state == WAITING
                        and row["department_id"] == snapshot.department_id
                        and row["channel"] == channel
                    ):
                        # Still in the queue as offered: the offer stands.
                        state = OFFERED
                    else:
                        await withdraw_offers(db, snapshot.id)
                starts_waiting = state in (WAITING, UNROUTED) and (
                    row["state"] != state
                    or row["department_id"] != snapshot.department_id
                    or row["channel"] != channel
                    or row["retry_routing"]
                )
                # A reserved slot frees too: the write-back in flight is refused, since
                # the ticket's version moved on.
                if row["state"] in LOADED and (
                    state != ASSIGNED or row["agent_id"] != snapshot.agent_id
                ):
                    freed = row["agent_id"]
                newly_assigned = state == ASSIGNED and (
                    row["state"] != ASSIGNED or row["agent_id"] != snapshot.agent_id
                )
            if freed is not None and starts_waiting:
                # The write below takes the ticket out of the agent's load, which locks
                # their load row until the commit, and the decision that follows may wait
                # for an agent's row: the agent's row is taken first, as a reservation
                # takes it before their load row, so the two never wait for each other.
                await lock_agent(db, freed, wait=True)
            written = await db.execute(
                _WRITE,
                snapshot.id,
                snapshot.department_id,
                channel,
                snapshot.agent_id if state == ASSIGNED else None,
                state,
                snapshot.version,
                newly_assigned,
                event.occurred_at,
                snapshot.created_at,
                snapshot.sla_due_at,
            )
            if written == "INSERT 0 0":
                return
            if starts_waiting:
                waiting = Waiting(snapshot.id, snapshot.department_id, channel, snapshot.version)
                routed = await self._distributor.decide(
                    db, waiting, now=now, event_id=event.id, held_agent=freed
                )
        if routed is not None:
            await self._distributor.write_back(db, routed)
        if freed is not None:
            await self._distributor.flow_to_agent(db, freed, now=now, event_id=event.id)
