"""Agent events: keep each agent's departments, availability and active flag, and hand
waiting work to an agent who may now take it (came online, joined a department)."""

from __future__ import annotations

from helpdesk_events import AgentAvailabilityChanged, AgentCreated, AgentUpdated, HandlerContext

from ..models import RoutedAgent
from ..routing.distribution import Distributor

AGENT_EVENTS = ("agent.created", "agent.updated", "agent.availability_changed")


class AgentHandlers:
    def __init__(self, distributor: Distributor) -> None:
        self._distributor = distributor

    async def on_agent_event(
        self, event: AgentCreated | AgentUpdated | AgentAvailabilityChanged, ctx: HandlerContext
    ) -> None:
        snapshot = event.agent
        session = ctx.session
        row = await session.get(RoutedAgent, snapshot.id, with_for_update=True)
        if row is not None and row.changed_at > event.occurred_at:
            return
        if row is None:
            row = RoutedAgent(id=snapshot.id)
            session.add(row)
        row.department_ids = list(snapshot.department_ids)
        row.availability = dict(snapshot.availability)
        row.active = snapshot.active
        row.changed_at = event.occurred_at
        await session.flush()
        await self._distributor.flow_to_agent(
            session, snapshot.id, now=ctx.clock.now(), event_id=event.id
        )
