"""Agent events: keep each agent's departments, availability and active flag, and hand
waiting work to an agent who may now take it (came online, joined a department)."""

from __future__ import annotations

from helpdesk_events import AgentAvailabilityChanged, AgentCreated, AgentUpdated, HandlerContext

from ..routing.agents import record_agent
from ..routing.distribution import Distributor
from .claim import claim

AGENT_EVENTS = ("agent.created", "agent.updated", "agent.availability_changed")


class AgentHandlers:
    def __init__(self, distributor: Distributor) -> None:
        self._distributor = distributor

    async def on_agent_event(
        self, event: AgentCreated | AgentUpdated | AgentAvailabilityChanged, ctx: HandlerContext
    ) -> None:
        snapshot = event.agent
        db = await ctx.driver_connection()
        # The agent's row alone, committed before any decision: a decision locks a ticket's
        # row and then its winner's, so holding an agent's row while waiting for tickets
        # would invert that order.
        async with db.transaction():
            if not await claim(db, ctx):
                return
            if not await record_agent(db, snapshot, event.occurred_at):
                return
        await self._distributor.flow_to_agent(
            db, snapshot.id, now=ctx.clock.now(), event_id=event.id
        )
