"""The "to solve" queue: an agent asks for the next ticket and gets the oldest waiting one
of their departments. ``FOR UPDATE SKIP LOCKED`` hands two agents asking at once two
different tickets, whichever process serves them."""

from __future__ import annotations

import uuid
from datetime import datetime

from helpdesk_service.errors import Unprocessable
from helpdesk_ticket_client import ActionBatch, TicketApiClient
from helpdesk_ticket_client.actions import ActionActor, TransferAction
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import WAITING, RoutedAgent, RoutedTicket, RoutingDecision
from .assignment import mark_assigned

# Tickets that changed under the queue (ticket-api refused the assignment) are passed over;
# after this many the agent is told to ask again rather than kept waiting.
ATTEMPTS = 5


async def take_next(
    session: AsyncSession, ticket_api: TicketApiClient, agent_id: uuid.UUID, now: datetime
) -> RoutedTicket | None:
    """Assign the agent the oldest waiting ticket of their departments and commit; None
    when nothing waits there."""
    agent = await session.get(RoutedAgent, agent_id)
    if agent is None or not agent.active:
        raise Unprocessable(
            f"agent_id: the router knows no active agent {agent_id} (agents reach it through "
            "ticket-api's agent events)"
        )
    passed_over: list[uuid.UUID] = []
    for _ in range(ATTEMPTS):
        ticket = (
            await session.scalars(
                select(RoutedTicket)
                .where(
                    RoutedTicket.state == WAITING,
                    RoutedTicket.department_id.in_(agent.department_ids),
                    RoutedTicket.id.not_in(passed_over),
                )
                .order_by(RoutedTicket.created_at, RoutedTicket.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if ticket is None:
            await session.rollback()
            return None
        batch = ActionBatch(
            actor=ActionActor(kind="router", id="router", name="router (next in to-solve queue)"),
            actions=[TransferAction(type="transfer", agent_id=agent_id)],
            expected_version=ticket.version,
        )
        result = await ticket_api.apply_actions(
            ticket.id, batch, f"router:next:{ticket.id}:{ticket.version}:{agent_id}"
        )
        decision = RoutingDecision(
            ticket_id=ticket.id,
            event_id=None,
            department_id=ticket.department_id,
            channel=ticket.channel,
            method="pull",
            agent_id=agent_id,
            candidates=[],
            decided_at=now,
        )
        if result.ok:
            decision.outcome = "assigned"
            decision.reason = "asked for the next ticket: the oldest waiting in their departments"
            mark_assigned(ticket, result.body, agent_id, now)
        else:
            decision.outcome = "refused"
            decision.reason = f"ticket-api refused the assignment ({result.status_code})"
            passed_over.append(ticket.id)
        session.add(decision)
        await session.commit()
        if result.ok:
            return ticket
    return None
