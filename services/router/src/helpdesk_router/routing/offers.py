"""Ring all: a chat or call offered to every eligible agent at once. The first to accept
gets it (the offer row is locked per accept, so exactly one wins and the others get 409);
an offer nobody accepts in time expires, the ticket goes back to its department's queue,
and a missed chat is published (``chat.missed``) through the router's outbox."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from helpdesk_events import Actor, ChatMissed, Topics, add_to_outbox
from helpdesk_service.errors import Conflict, Forbidden, NotFound
from helpdesk_ticket_client import ActionBatch, TicketApiClient
from helpdesk_ticket_client.actions import ActionActor, TransferAction
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import (
    ASSIGNED,
    OFFERED,
    OUTBOX,
    WAITING,
    AgentChannelProfile,
    Offer,
    RoutedAgent,
    RoutedTicket,
    RoutingDecision,
)
from .assignment import mark_assigned
from .policies import default_profile

# Offers expired per call, so one pass never holds many locks for long.
EXPIRY_BATCH = 100


def new_offer(
    ticket: RoutedTicket, agent_ids: tuple[uuid.UUID, ...], now: datetime, timeout_seconds: int
) -> Offer:
    if ticket.department_id is None:
        raise ValueError("only a ticket with a department is offered")
    return Offer(
        id=uuid.uuid4(),
        ticket_id=ticket.id,
        department_id=ticket.department_id,
        channel=ticket.channel,
        agent_ids=list(agent_ids),
        state="open",
        accepted_by=None,
        offered_at=now,
        expires_at=now + timedelta(seconds=timeout_seconds),
    )


async def withdraw_offers(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """The ticket left the queue another way (a person assigned it, it was closed or moved):
    its open offers can no longer be accepted."""
    for offer in (
        await session.scalars(
            select(Offer)
            .where(Offer.ticket_id == ticket_id, Offer.state == "open")
            .with_for_update()
        )
    ).all():
        offer.state = "withdrawn"


async def open_offers(session: AsyncSession, agent_id: uuid.UUID) -> list[Offer]:
    return list(
        (
            await session.scalars(
                select(Offer)
                .where(Offer.state == "open", Offer.agent_ids.contains([agent_id]))
                .order_by(Offer.offered_at, Offer.id)
            )
        ).all()
    )


async def accept_offer(
    session: AsyncSession,
    ticket_api: TicketApiClient,
    offer_id: uuid.UUID,
    agent_id: uuid.UUID,
    now: datetime,
) -> RoutedTicket:
    """Assign the offered ticket to ``agent_id`` if they are the first to accept; commits."""
    offer = await session.get(Offer, offer_id, with_for_update=True)
    if offer is None:
        raise NotFound(f"no offer with id {offer_id}")
    if agent_id not in offer.agent_ids:
        raise Forbidden(f"offer {offer_id} was not made to agent {agent_id}")
    if offer.state == "accepted":
        raise Conflict(f"taken: agent {offer.accepted_by} accepted this offer first")
    if offer.state != "open" or now >= offer.expires_at:
        raise Conflict(f"offer {offer_id} is no longer open ({_closed_state(offer, now)})")
    ticket = await session.get(RoutedTicket, offer.ticket_id, with_for_update=True)
    if ticket is None or ticket.state != OFFERED:
        offer.state = "withdrawn"
        await session.commit()
        raise Conflict(f"offer {offer_id} is no longer open (the ticket left the queue)")
    # The agent may have filled up since the offer was made.
    await session.get(RoutedAgent, agent_id, with_for_update=True)
    load = await session.scalar(
        select(func.count()).where(
            RoutedTicket.agent_id == agent_id,
            RoutedTicket.channel == offer.channel,
            RoutedTicket.state == ASSIGNED,
        )
    )
    profile = await session.get(AgentChannelProfile, (agent_id, offer.channel))
    max_load = profile.max_load if profile else default_profile(offer.channel).max_load
    if (load or 0) >= max_load:
        raise Conflict(
            f"agent {agent_id} is full: {load} of {max_load} {offer.channel} slots taken"
        )
    batch = ActionBatch(
        actor=ActionActor(kind="router", id="router", name="router (ring_all)"),
        actions=[TransferAction(type="transfer", agent_id=agent_id)],
        expected_version=ticket.version,
    )
    result = await ticket_api.apply_actions(ticket.id, batch, f"router:offer:{offer.id}")
    decision = RoutingDecision(
        ticket_id=ticket.id,
        event_id=None,
        department_id=ticket.department_id,
        channel=ticket.channel,
        method="ring_all",
        agent_id=agent_id,
        candidates=[],
        decided_at=now,
    )
    session.add(decision)
    if not result.ok:
        offer.state = "withdrawn"
        ticket.state = WAITING
        ticket.retry_routing = True
        decision.outcome = "refused"
        decision.reason = f"ticket-api refused the assignment ({result.status_code})"
        await session.commit()
        raise Conflict(f"offer {offer_id} is no longer open (the ticket changed)")
    offer.state = "accepted"
    offer.accepted_by = agent_id
    mark_assigned(ticket, result.body, agent_id, now)
    decision.outcome = "assigned"
    decision.reason = f"accepted the offer first, of {len(offer.agent_ids)} agents offered"
    await session.commit()
    return ticket


async def expire_offers(session: AsyncSession, topics: Topics, now: datetime) -> int:
    """Expire the offers nobody accepted in time and commit; how many expired."""
    offers = (
        await session.scalars(
            select(Offer)
            .where(Offer.state == "open", Offer.expires_at <= now)
            .order_by(Offer.expires_at)
            .limit(EXPIRY_BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    missed: list[ChatMissed] = []
    for offer in offers:
        offer.state = "expired"
        ticket = await session.get(RoutedTicket, offer.ticket_id, with_for_update=True)
        if ticket is None or ticket.state != OFFERED:
            continue
        ticket.state = WAITING
        seconds = int((offer.expires_at - offer.offered_at).total_seconds())
        session.add(
            RoutingDecision(
                ticket_id=ticket.id,
                event_id=None,
                department_id=ticket.department_id,
                channel=ticket.channel,
                method="ring_all",
                outcome="missed",
                agent_id=None,
                reason=(
                    f"none of the {len(offer.agent_ids)} agents offered accepted within "
                    f"{seconds} s: the ticket waits in the queue and is offered again when "
                    "an agent comes online or frees a slot"
                ),
                candidates=[],
                decided_at=now,
            )
        )
        if offer.channel == "chat":
            missed.append(
                ChatMissed(
                    occurred_at=now,
                    ticket_id=ticket.id,
                    actor=Actor(kind="router", id="router", name="router (ring_all)"),
                    correlation_id=offer.id,
                    department_id=offer.department_id,
                    offered_to=list(offer.agent_ids),
                    offered_at=offer.offered_at,
                )
            )
    await add_to_outbox(session, OUTBOX, topics.tickets, missed)
    await session.commit()
    return len(offers)


def _closed_state(offer: Offer, now: datetime) -> str:
    if offer.state == "open" and now >= offer.expires_at:
        return "expired"
    return offer.state
