"""Ticket and SLA events (topics ``helpdesk.tickets``, ``helpdesk.sla``): the agent
notifications they make, stored in the event's transaction for the agents whose
preferences let them through (the consumer dedupes by event; the unique (event, agent,
kind) covers a replay). Events older than ``max_age`` make none: a notifier deployed on a
running suite starts from the oldest retained event and must not page agents about last
week."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from helpdesk_events import EventBase, HandlerContext
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from ..agents.kinds import DEFAULTS, notices_for
from ..models import AgentNotification, AgentPreference


async def on_ticket_event(event: EventBase, ctx: HandlerContext, max_age: timedelta) -> None:
    if ctx.clock.now() - event.occurred_at > max_age:
        return
    notices = notices_for(event)
    if not notices:
        return
    session = ctx.session
    choices = {
        (p.agent_id, p.kind): p.enabled
        for p in (
            await session.scalars(
                select(AgentPreference).where(
                    AgentPreference.agent_id.in_({n.agent_id for n in notices}),
                    AgentPreference.channel == "in_app",
                )
            )
        ).all()
    }
    wanted = [n for n in notices if choices.get((n.agent_id, n.kind), DEFAULTS[(n.kind, "in_app")])]
    if not wanted:
        return
    await session.execute(
        insert(AgentNotification)
        .values(
            [
                {
                    "agent_id": n.agent_id,
                    "kind": n.kind,
                    "ticket_id": n.ticket_id,
                    "event_id": event.id,
                    "title": n.title,
                    "created_at": ctx.clock.now(),
                }
                for n in wanted
            ]
        )
        .on_conflict_do_nothing()
    )


def handlers(max_age: timedelta) -> dict[str, Any]:
    async def handle(event: EventBase, ctx: HandlerContext) -> None:
        await on_ticket_event(event, ctx, max_age)

    types = (
        "ticket.created",
        "ticket.transferred",
        "ticket.status_changed",
        "message.added",
        "sla.breached",
    )
    return dict.fromkeys(types, handle)
