"""Ticket and SLA events (topics ``helpdesk.tickets``, ``helpdesk.sla``): the agent
notifications they make, stored in the event's transaction for the agents whose
preferences let them through — in the app (announced to the agents' open streams when
the transaction commits), and to Slack and the push provider as
deliveries (the consumer dedupes by event; the unique (event, agent, kind) and the
deliveries' dedupe keys cover a replay). Events older than ``max_age`` make none: a
notifier deployed on a running suite starts from the oldest retained event and must not
page agents about last week."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from helpdesk_events import EventBase, HandlerContext, OutboundRequest
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from ..agents.kinds import DEFAULTS, AgentNotice, Channel, notices_for
from ..agents.stream import announce
from ..delivery.store import store_request
from ..models import AgentChannel, AgentNotification, AgentPreference


async def on_ticket_event(
    event: EventBase, ctx: HandlerContext, max_age: timedelta, push_url: str | None
) -> None:
    if ctx.clock.now() - event.occurred_at > max_age:
        return
    notices = notices_for(event)
    if not notices:
        return
    session = ctx.session
    agents = {n.agent_id for n in notices}
    choices = {
        (p.agent_id, p.kind, p.channel): p.enabled
        for p in (
            await session.scalars(
                select(AgentPreference).where(AgentPreference.agent_id.in_(agents))
            )
        ).all()
    }

    def wants(notice: AgentNotice, channel: Channel) -> bool:
        key = (notice.agent_id, notice.kind, channel)
        return choices.get(key, DEFAULTS[(notice.kind, channel)])

    in_app = [n for n in notices if wants(n, "in_app")]
    if in_app:
        stored = await session.scalars(
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
                    for n in in_app
                ]
            )
            .on_conflict_do_nothing()
            .returning(AgentNotification.agent_id)
        )
        await announce(session, set(stored))
    to_slack = [n for n in notices if wants(n, "slack")]
    if to_slack:
        webhooks = {
            c.agent_id: c.address
            for c in (
                await session.scalars(
                    select(AgentChannel).where(
                        AgentChannel.agent_id.in_({n.agent_id for n in to_slack}),
                        AgentChannel.channel == "slack",
                    )
                )
            ).all()
        }
        for notice in to_slack:
            url = webhooks.get(notice.agent_id)
            if url is None:
                continue
            # A Slack message, delivered (stored, retried, logged) like a rule's request.
            await store_request(
                session,
                OutboundRequest(
                    kind="http_request",
                    url=url,
                    method="POST",
                    headers={"content-type": "application/json"},
                    body=json.dumps({"text": notice.title}),
                    dedupe_key=f"{event.id}:{notice.agent_id}:{notice.kind}:slack",
                ),
                now=ctx.clock.now(),
                event_id=event.id,
                ticket_id=notice.ticket_id,
            )
    if push_url is None:
        return
    for notice in notices:
        if not wants(notice, "push"):
            continue
        # The provider knows the agent's devices; it gets who, what and which ticket.
        await store_request(
            session,
            OutboundRequest(
                kind="http_request",
                url=push_url,
                method="POST",
                headers={"content-type": "application/json"},
                body=json.dumps(
                    {
                        "agent_id": str(notice.agent_id),
                        "kind": notice.kind,
                        "ticket_id": str(notice.ticket_id),
                        "title": notice.title,
                    }
                ),
                dedupe_key=f"{event.id}:{notice.agent_id}:{notice.kind}:push",
            ),
            now=ctx.clock.now(),
            event_id=event.id,
            ticket_id=notice.ticket_id,
        )


def handlers(max_age: timedelta, push_url: str | None = None) -> dict[str, Any]:
    """``push_url``: the push provider's webhook (None: no push is sent)."""

    async def handle(event: EventBase, ctx: HandlerContext) -> None:
        await on_ticket_event(event, ctx, max_age, push_url)

    types = (
        "ticket.created",
        "ticket.transferred",
        "ticket.status_changed",
        "message.added",
        "sla.breached",
    )
    return dict.fromkeys(types, handle)
