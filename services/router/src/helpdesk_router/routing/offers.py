"""Ring all: a chat or call offered to every eligible agent at once. The first to accept
gets it (the ticket's and the offer's rows are locked per accept, so exactly one wins and
the others get 409);
an offer nobody accepts in time expires, the ticket goes back to its department's queue,
and a missed chat is published (``chat.missed``) through the router's outbox. The offer of
a chat is published too (``chat.offered``, routing/distribution.py), so the agents ring."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_events import Actor, ChatMissed, Topics, add_to_outbox
from helpdesk_service.errors import Conflict, Forbidden, NotFound
from helpdesk_ticket_client import TicketApiClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..models import ASSIGNED, OFFERED, OUTBOX, WAITING, Offer, RoutedTicket, RoutingDecision
from .assignment import Assignment, autocommit_connection, lock_agent, reserve, write_back
from .policies import default_profile

# Offers expired per call, so one pass never holds many locks for long.
EXPIRY_BATCH = 100
# Who offers a ticket to everyone at once, and publishes that the offer was missed.
RING_ALL = Actor(kind="router", id="router", name="router (ring_all)")

_OFFER_TICKET = "SELECT ticket_id FROM routing.offer WHERE id = $1"
_LOCK_TICKET = "SELECT state, version FROM routing.ticket WHERE id = $1 FOR UPDATE"
_LOCK_OFFER = (
    "SELECT state, accepted_by, expires_at, channel, agent_ids FROM routing.offer "
    "WHERE id = $1 FOR UPDATE"
)
_WITHDRAW = "UPDATE routing.offer SET state = 'withdrawn' WHERE ticket_id = $1 AND state = 'open'"
_SET_OFFER = "UPDATE routing.offer SET state = $2, accepted_by = $3 WHERE id = $1"
_MAX_LOAD = (
    "SELECT max_load FROM routing.agent_channel_profile WHERE agent_id = $1 AND channel = $2"
)


async def withdraw_offers(db: Any, ticket_id: uuid.UUID) -> None:
    """The ticket left the queue another way (a person assigned it, it was closed or moved):
    its open offers can no longer be accepted. In the caller's transaction, which holds the
    ticket's row."""
    await db.execute(_WITHDRAW, ticket_id)


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
    engine: AsyncEngine,
    ticket_api: TicketApiClient,
    offer_id: uuid.UUID,
    agent_id: uuid.UUID,
    now: datetime,
) -> uuid.UUID:
    """Assign the offered ticket to ``agent_id`` if they are the first to accept; the
    ticket's id. The ticket's row is locked before the offer's (the order the worker's
    handlers lock them in), so the accepts of one offer take turns and exactly one wins."""
    async with autocommit_connection(engine) as db:
        pending = None
        async with db.transaction():
            ticket_id = await db.fetchval(_OFFER_TICKET, offer_id)
            if ticket_id is None:
                raise NotFound(f"no offer with id {offer_id}")
            ticket = await db.fetchrow(_LOCK_TICKET, ticket_id)
            offer = await db.fetchrow(_LOCK_OFFER, offer_id)
            if agent_id not in offer["agent_ids"]:
                raise Forbidden(f"offer {offer_id} was not made to agent {agent_id}")
            if offer["state"] == "accepted":
                raise Conflict(f"taken: agent {offer['accepted_by']} accepted this offer first")
            if offer["state"] != "open" or now >= offer["expires_at"]:
                state = "expired" if offer["state"] == "open" else offer["state"]
                raise Conflict(f"offer {offer_id} is no longer open ({state})")
            if ticket is None or ticket["state"] != OFFERED:
                await db.execute(_SET_OFFER, offer_id, "withdrawn", None)
            else:
                # The agent may have filled up since the offer was made.
                max_load = await db.fetchval(_MAX_LOAD, agent_id, offer["channel"])
                if max_load is None:
                    max_load = default_profile(offer["channel"]).max_load
                await lock_agent(db, agent_id, wait=True)
                pending = await reserve(
                    db,
                    Assignment(
                        ticket_id=ticket_id,
                        agent_id=agent_id,
                        channel=offer["channel"],
                        version=ticket["version"],
                        max_load=max_load,
                        idempotency_key=f"router:offer:{offer_id}",
                        method="ring_all",
                        actor_name="router (ring_all)",
                        reason=(
                            f"accepted the offer first, of {len(offer['agent_ids'])} agents offered"
                        ),
                        candidates=[],
                    ),
                    now,
                )
                if pending is None:
                    raise Conflict(
                        f"agent {agent_id} is full: every {offer['channel']} slot of theirs "
                        f"({max_load}) is taken"
                    )
                await db.execute(_SET_OFFER, offer_id, "accepted", agent_id)
        if pending is None:  # withdrawn above: the ticket is no longer offered
            raise Conflict(f"offer {offer_id} is no longer open (the ticket left the queue)")
        written = await write_back(db, ticket_api, pending)
        if written.outcome != ASSIGNED:
            await db.execute(_SET_OFFER, offer_id, "withdrawn", None)
            raise Conflict(f"offer {offer_id} is no longer open (the ticket changed)")
    return uuid.UUID(str(ticket_id))


async def expire_offers(session: AsyncSession, topics: Topics, now: datetime) -> int:
    """Expire the offers nobody accepted in time and commit; how many expired."""
    due = (
        await session.execute(
            select(Offer.id, Offer.ticket_id)
            .where(Offer.state == "open", Offer.expires_at <= now)
            .order_by(Offer.expires_at)
            .limit(EXPIRY_BATCH)
        )
    ).all()
    missed: list[ChatMissed] = []
    expired = 0
    for offer_id, ticket_id in due:
        # The ticket's row before the offer's, as everywhere; either held elsewhere (an
        # accept, an event of the ticket, another process expiring it) passes it over.
        ticket = (
            await session.scalars(
                select(RoutedTicket)
                .where(RoutedTicket.id == ticket_id)
                .with_for_update(skip_locked=True)
            )
        ).first()
        offer = (
            await session.scalars(
                select(Offer)
                .where(Offer.id == offer_id, Offer.state == "open")
                .with_for_update(skip_locked=True)
            )
        ).first()
        if ticket is None or offer is None:
            continue
        offer.state = "expired"
        expired += 1
        if ticket.state != OFFERED:
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
                    actor=RING_ALL,
                    correlation_id=offer.id,
                    department_id=offer.department_id,
                    offered_to=list(offer.agent_ids),
                    offered_at=offer.offered_at,
                )
            )
    await add_to_outbox(session, OUTBOX, topics.tickets, missed)
    await session.commit()
    return expired
