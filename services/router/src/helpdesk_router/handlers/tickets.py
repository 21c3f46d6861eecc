"""Ticket events: keep each ticket's routing row at its latest version, route tickets that
start waiting, and hand the slot a ticket frees to waiting work.

Every ticket event carries the ticket after the change with its ``version``; a row is only
ever replaced by a newer version, so redelivered, duplicated and out-of-order events leave
it — and the loads counted from it — as the newest event said."""

from __future__ import annotations

from helpdesk_events import HandlerContext, TicketEventBase, TicketPurged, TicketSnapshot

from ..models import ASSIGNED, CLOSED, OFFERED, UNROUTED, WAITING, RoutedTicket
from ..routing.distribution import Distributor
from ..routing.offers import withdraw_offers
from ..routing.policies import routing_channel

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


class TicketHandlers:
    def __init__(self, distributor: Distributor) -> None:
        self._distributor = distributor

    async def on_ticket_event(self, event: TicketEventBase, ctx: HandlerContext) -> None:
        snapshot = event.ticket
        session = ctx.session
        row = await session.get(RoutedTicket, snapshot.id, with_for_update=True)
        if row is not None and row.version >= snapshot.version:
            return
        state = routing_state(snapshot, isinstance(event, TicketPurged))
        channel = routing_channel(snapshot.channel)
        freed = None
        if row is None:
            row = RoutedTicket(id=snapshot.id, created_at=snapshot.created_at, assigned_at=None)
            session.add(row)
            starts_waiting = state in (WAITING, UNROUTED)
        else:
            if row.state == OFFERED:
                if (
                    state == WAITING
                    and row.department_id == snapshot.department_id
                    and row.channel == channel
                ):
                    # Still in the queue as offered: the offer stands.
                    state = OFFERED
                else:
                    await withdraw_offers(session, row.id)
            starts_waiting = state in (WAITING, UNROUTED) and (
                row.state != state
                or row.department_id != snapshot.department_id
                or row.channel != channel
                or row.retry_routing
            )
            if row.state == ASSIGNED and (state != ASSIGNED or row.agent_id != snapshot.agent_id):
                freed = (row.agent_id, row.channel)
        if state == ASSIGNED and (row.state != ASSIGNED or row.agent_id != snapshot.agent_id):
            row.assigned_at = event.occurred_at
        row.department_id = snapshot.department_id
        row.channel = channel
        row.agent_id = snapshot.agent_id if state == ASSIGNED else None
        row.state = state
        row.version = snapshot.version
        row.retry_routing = False
        await session.flush()
        now = ctx.clock.now()
        if starts_waiting:
            await self._distributor.route(session, row, now=now, event_id=event.id)
        if freed is not None and freed[0] is not None:
            await self._distributor.flow_to_agent(session, freed[0], now=now, event_id=event.id)
