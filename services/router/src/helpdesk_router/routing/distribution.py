"""Routing a waiting ticket against the database: candidates, loads, the decision, the
assignment through ticket-api, and the record that explains it.

Each decision locks the rows of the department's agents (``SELECT … FOR UPDATE``, in id
order, so two decisions that share agents never deadlock) before counting their loads, and
keeps them locked until the assignment is written back and committed. Two router instances
routing into one department therefore take turns per decision and never fill an agent past
their maximum, and no decision relies on anything held in a process.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from helpdesk_ticket_client import ActionBatch, TicketApiClient
from helpdesk_ticket_client.actions import ActionActor, TransferAction
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import (
    ASSIGNED,
    OFFERED,
    WAITING,
    AgentChannelProfile,
    RoutedAgent,
    RoutedTicket,
    RoutingDecision,
)
from .assignment import mark_assigned
from .choice import Candidate, Decision, choose, only_agent
from .offers import new_offer
from .policies import default_profile, policy_for

# How many waiting tickets one event may hand to an agent who came online or freed slots;
# the rest follow with the agent's next event, so one handler never runs for long.
FLOW_LIMIT = 50


@dataclass(frozen=True)
class Routed:
    """What became of one routing attempt."""

    outcome: str
    agent_id: uuid.UUID | None


class Distributor:
    def __init__(self, ticket_api: TicketApiClient, rng: random.Random | None = None) -> None:
        self._ticket_api = ticket_api
        self._rng = rng or random.Random()

    async def route(
        self,
        session: AsyncSession,
        ticket: RoutedTicket,
        *,
        now: datetime,
        event_id: uuid.UUID | None,
    ) -> Routed:
        """Decide who gets the waiting ``ticket`` (locked by the caller) and assign it."""
        sole = await self._only_active_agent(session)
        if sole is not None:
            transfer = TransferAction(type="transfer", agent_id=sole.id)
            if ticket.department_id not in sole.department_ids:
                # ticket-api assigns an agent only within their departments: the ticket
                # moves to the agent's (first) department, or to none if they have none.
                transfer = TransferAction(
                    type="transfer",
                    agent_id=sole.id,
                    department_id=sole.department_ids[0] if sole.department_ids else None,
                )
            return await self._assign(
                session, ticket, only_agent(sole.id), now, event_id, transfer=transfer
            )
        if ticket.department_id is None:
            return Routed("unrouted", None)
        policy = await policy_for(session, ticket.department_id, ticket.channel)
        if policy.distribution == "pull":
            return await self._record(
                session,
                ticket,
                method=policy.method,
                outcome="queued",
                agent_id=None,
                reason=(
                    f"the department distributes {ticket.channel} by pull: the ticket waits "
                    "in its to-solve queue until an agent asks for the next one"
                ),
                candidates=[],
                now=now,
                event_id=event_id,
            )
        candidates = await self._candidates(session, ticket.department_id, ticket.channel)
        decision = choose(
            policy.method,
            candidates,
            department_id=ticket.department_id,
            channel=ticket.channel,
            rng=self._rng,
        )
        if decision.offered:
            ticket.state = OFFERED
            session.add(new_offer(ticket, decision.offered, now, policy.offer_timeout_seconds))
            return await self._record(
                session,
                ticket,
                method=decision.method,
                outcome="offered",
                agent_id=None,
                reason=(
                    f"offered to {len(decision.offered)} eligible agents at once: the first to "
                    f"accept within {policy.offer_timeout_seconds} s gets it"
                ),
                candidates=_verdicts(decision),
                now=now,
                event_id=event_id,
            )
        if decision.winner is None:
            return await self._record(
                session,
                ticket,
                method=decision.method,
                outcome="queued",
                agent_id=None,
                reason="no eligible agent: the ticket waits for one to come online or free a slot",
                candidates=_verdicts(decision),
                now=now,
                event_id=event_id,
            )
        return await self._assign(session, ticket, decision, now, event_id)

    async def flow_to_agent(
        self, session: AsyncSession, agent_id: uuid.UUID, *, now: datetime, event_id: uuid.UUID
    ) -> None:
        """Waiting work of the agent's departments, oldest first, routed again now that the
        agent came online or freed a slot (others may still win the decision)."""
        agent = await session.get(RoutedAgent, agent_id)
        if agent is None or not agent.active or not agent.department_ids:
            return
        online = [channel for channel, status in agent.availability.items() if status == "online"]
        if not online:
            return
        for _ in range(FLOW_LIMIT):
            ticket = (
                await session.scalars(
                    select(RoutedTicket)
                    .where(
                        RoutedTicket.state == WAITING,
                        RoutedTicket.department_id.in_(agent.department_ids),
                        RoutedTicket.channel.in_(online),
                    )
                    .order_by(RoutedTicket.created_at, RoutedTicket.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if ticket is None:
                return
            routed = await self.route(session, ticket, now=now, event_id=event_id)
            if routed.outcome != "assigned":
                return

    async def _only_active_agent(self, session: AsyncSession) -> RoutedAgent | None:
        agents = (
            await session.scalars(select(RoutedAgent).where(RoutedAgent.active).limit(2))
        ).all()
        return agents[0] if len(agents) == 1 else None

    async def _candidates(
        self, session: AsyncSession, department_id: uuid.UUID, channel: str
    ) -> list[Candidate]:
        agents = (
            await session.scalars(
                select(RoutedAgent)
                .where(RoutedAgent.active, RoutedAgent.department_ids.contains([department_id]))
                .order_by(RoutedAgent.id)
                .with_for_update()
            )
        ).all()
        if not agents:
            return []
        ids = [a.id for a in agents]
        profiles = {
            row.agent_id: row
            for row in (
                await session.scalars(
                    select(AgentChannelProfile).where(
                        AgentChannelProfile.agent_id.in_(ids),
                        AgentChannelProfile.channel == channel,
                    )
                )
            ).all()
        }
        usage = {
            row.agent_id: (row.load, row.last_assigned_at)
            for row in (
                await session.execute(
                    select(
                        RoutedTicket.agent_id,
                        func.count().filter(RoutedTicket.state == ASSIGNED).label("load"),
                        func.max(RoutedTicket.assigned_at).label("last_assigned_at"),
                    )
                    .where(RoutedTicket.agent_id.in_(ids), RoutedTicket.channel == channel)
                    .group_by(RoutedTicket.agent_id)
                )
            ).all()
        }
        default = default_profile(channel)
        out: list[Candidate] = []
        for agent in agents:
            profile = profiles.get(agent.id)
            load, last = usage.get(agent.id, (0, None))
            out.append(
                Candidate(
                    agent_id=agent.id,
                    priority=profile.priority if profile else default.priority,
                    load=load,
                    max_load=profile.max_load if profile else default.max_load,
                    online=agent.availability.get(channel) == "online",
                    department_ids=frozenset(agent.department_ids),
                    last_assigned_at=last,
                )
            )
        return out

    async def _assign(
        self,
        session: AsyncSession,
        ticket: RoutedTicket,
        decision: Decision,
        now: datetime,
        event_id: uuid.UUID | None,
        *,
        transfer: TransferAction | None = None,
    ) -> Routed:
        winner = decision.winner
        if winner is None:
            raise ValueError("a decision without a winner assigns nobody")
        batch = ActionBatch(
            actor=ActionActor(kind="router", id="router", name=f"router ({decision.method})"),
            actions=[transfer or TransferAction(type="transfer", agent_id=winner)],
            causation_id=event_id,
            # A person who assigned the ticket meanwhile wins: ticket-api answers 409.
            expected_version=ticket.version,
        )
        # The same ticket at the same version is assigned once, however often the event
        # that led here is delivered.
        key = f"router:{ticket.id}:{ticket.version}"
        result = await self._ticket_api.apply_actions(ticket.id, batch, key)
        winner_reason = next(v.reason for v in decision.verdicts if v.agent_id == winner)
        if not result.ok:
            # The ticket changed after the event this decision saw; its next event, or
            # the next event that finds it still waiting, routes it again.
            ticket.retry_routing = True
            return await self._record(
                session,
                ticket,
                method=decision.method,
                outcome="refused",
                agent_id=winner,
                reason=(
                    f"ticket-api refused the assignment ({result.status_code}): "
                    f"{_message(result.body)}"
                ),
                candidates=_verdicts(decision),
                now=now,
                event_id=event_id,
            )
        holder = mark_assigned(ticket, result.body, winner, now)
        if holder != winner:
            winner_reason = (
                f"the ticket went to {holder}: the assignment had been written before this "
                "event was delivered again, and ticket-api replayed it"
            )
        return await self._record(
            session,
            ticket,
            method=decision.method,
            outcome="assigned",
            agent_id=holder,
            reason=winner_reason,
            candidates=_verdicts(decision),
            now=now,
            event_id=event_id,
        )

    async def _record(
        self,
        session: AsyncSession,
        ticket: RoutedTicket,
        *,
        method: str,
        outcome: str,
        agent_id: uuid.UUID | None,
        reason: str,
        candidates: list[dict[str, Any]],
        now: datetime,
        event_id: uuid.UUID | None,
    ) -> Routed:
        session.add(
            RoutingDecision(
                ticket_id=ticket.id,
                event_id=event_id,
                department_id=ticket.department_id,
                channel=ticket.channel,
                method=method,
                outcome=outcome,
                agent_id=agent_id,
                reason=reason,
                candidates=candidates,
                decided_at=now,
            )
        )
        await session.flush()
        return Routed(outcome, agent_id if outcome == "assigned" else None)


def _verdicts(decision: Decision) -> list[dict[str, Any]]:
    return [{**asdict(v), "agent_id": str(v.agent_id)} for v in decision.verdicts]


def _message(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return ""
