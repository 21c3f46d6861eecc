"""Ticket and SLA events (topics ``helpdesk.tickets``, ``helpdesk.sla``): the agent
notifications they make, stored in the event's transaction for the agents whose
preferences let them through — in the app (announced to the agents' open streams when
the transaction commits), and by e-mail, to Slack and to the push provider as deliveries
(the consumer dedupes by event; the unique (event, agent, kind) and the deliveries' dedupe
keys cover a replay). Department-wide kinds and e-mail addresses come from ticket-api.
Events older than ``max_age`` make none: a notifier deployed on a running suite starts
from the oldest retained event and must not page agents about last week."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from helpdesk_events import EventBase, HandlerContext, OutboundRequest
from helpdesk_ticket_client import TicketApiClient
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..agents.kinds import DEFAULTS, AgentNotice, Channel, DepartmentNotice, notices_for
from ..agents.stream import announce
from ..delivery.store import store_request
from ..models import AgentChannel, AgentNotification, AgentPreference


@dataclass(frozen=True)
class AgentNotifications:
    """The handler, with what it needs besides the event."""

    ticket_api: TicketApiClient
    max_age: timedelta
    # The push provider's webhook; None: no push is sent.
    push_url: str | None = None

    async def on_ticket_event(self, event: EventBase, ctx: HandlerContext) -> None:
        if ctx.clock.now() - event.occurred_at > self.max_age:
            return
        # Agents' records as ticket-api gave them (a department's listing carries them).
        records: dict[uuid.UUID, dict[str, Any]] = {}
        notices = await self._expand(notices_for(event), records)
        if not notices:
            return
        session = ctx.session
        choices = {
            (p.agent_id, p.kind, p.channel): p.enabled
            for p in (
                await session.scalars(
                    select(AgentPreference).where(
                        AgentPreference.agent_id.in_({n.agent_id for n in notices})
                    )
                )
            ).all()
        }

        def wanting(channel: Channel) -> list[AgentNotice]:
            return [
                n
                for n in notices
                if choices.get((n.agent_id, n.kind, channel), DEFAULTS[(n.kind, channel)])
            ]

        await self._by_email(session, event, wanting("email"), records, ctx)
        await _to_slack(session, event, wanting("slack"), ctx)
        if self.push_url is not None:
            for notice in wanting("push"):
                # The provider knows the agent's devices; it gets who, what and which ticket.
                await _store_http(
                    session,
                    event,
                    notice,
                    "push",
                    self.push_url,
                    {
                        "agent_id": str(notice.agent_id),
                        "kind": notice.kind,
                        "ticket_id": str(notice.ticket_id),
                        "title": notice.title,
                    },
                    ctx,
                )
        # Last: it takes the agents' ordering locks, held until the event's commit.
        await _in_app(session, event, wanting("in_app"), ctx)

    async def _expand(
        self,
        notices: list[AgentNotice | DepartmentNotice],
        records: dict[uuid.UUID, dict[str, Any]],
    ) -> list[AgentNotice]:
        """Department-wide notices as one per agent of the department; an agent already
        told of the ticket by this event (as its own agent) is not told twice."""
        expanded = [n for n in notices if isinstance(n, AgentNotice)]
        told = {n.agent_id for n in expanded}
        for notice in notices:
            if not isinstance(notice, DepartmentNotice):
                continue
            async for agent in self.ticket_api.agents(
                department_id=notice.department_id, active=True
            ):
                agent_id = uuid.UUID(agent["id"])
                records[agent_id] = agent
                if agent_id not in notice.excluded and agent_id not in told:
                    told.add(agent_id)
                    expanded.append(notice.to(agent_id))
        return expanded

    async def _by_email(
        self,
        session: AsyncSession,
        event: EventBase,
        notices: list[AgentNotice],
        records: dict[uuid.UUID, dict[str, Any]],
        ctx: HandlerContext,
    ) -> None:
        for notice in notices:
            agent = records.get(notice.agent_id) or await self.ticket_api.get_agent(notice.agent_id)
            if agent is None or not agent.get("email"):
                continue
            # Sent like a rule's "send e-mail": stored, retried, logged, one SMTP sender.
            await store_request(
                session,
                OutboundRequest(
                    kind="send_email",
                    to=[agent["email"]],
                    subject=notice.title,
                    body=f"{notice.title}\n",
                    dedupe_key=_dedupe_key(event, notice, "email"),
                ),
                now=ctx.clock.now(),
                event_id=event.id,
                ticket_id=notice.ticket_id,
            )


# An agent's stream reads their notifications by ascending id, so ids must become visible
# in that order: two transactions could otherwise take ids 5 and 6 and commit 6 first, and
# a stream that read 6 would never see 5. Per agent (in a fixed order, so no deadlock),
# the id is taken only after the previous holder committed.
_ORDER_LOCKS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(agent, 0))"
    " FROM unnest(CAST(:agents AS text[])) AS agent"
)


async def _in_app(
    session: AsyncSession, event: EventBase, notices: list[AgentNotice], ctx: HandlerContext
) -> None:
    if not notices:
        return
    agents = sorted({str(n.agent_id) for n in notices})
    await session.execute(_ORDER_LOCKS, {"agents": agents})
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
                for n in notices
            ]
        )
        .on_conflict_do_nothing()
        .returning(AgentNotification.agent_id)
    )
    await announce(session, set(stored))


async def _to_slack(
    session: AsyncSession, event: EventBase, notices: list[AgentNotice], ctx: HandlerContext
) -> None:
    if not notices:
        return
    webhooks = {
        c.agent_id: c.address
        for c in (
            await session.scalars(
                select(AgentChannel).where(
                    AgentChannel.agent_id.in_({n.agent_id for n in notices}),
                    AgentChannel.channel == "slack",
                )
            )
        ).all()
    }
    for notice in notices:
        url = webhooks.get(notice.agent_id)
        if url is not None:
            await _store_http(session, event, notice, "slack", url, {"text": notice.title}, ctx)


async def _store_http(
    session: AsyncSession,
    event: EventBase,
    notice: AgentNotice,
    channel: Channel,
    url: str,
    payload: dict[str, str],
    ctx: HandlerContext,
) -> None:
    """A JSON POST, delivered (stored, signed, retried, logged) like a rule's request."""
    await store_request(
        session,
        OutboundRequest.json_post(
            url, json.dumps(payload), dedupe_key=_dedupe_key(event, notice, channel)
        ),
        now=ctx.clock.now(),
        event_id=event.id,
        ticket_id=notice.ticket_id,
    )


def _dedupe_key(event: EventBase, notice: AgentNotice, channel: Channel) -> str:
    return f"{event.id}:{notice.agent_id}:{notice.kind}:{channel}"


def handlers(
    ticket_api: TicketApiClient, max_age: timedelta, push_url: str | None = None
) -> dict[str, Any]:
    """``push_url``: the push provider's webhook (None: no push is sent)."""
    handle = AgentNotifications(ticket_api, max_age, push_url).on_ticket_event
    types = (
        "ticket.created",
        "ticket.transferred",
        "ticket.status_changed",
        "message.added",
        "sla.breached",
        "sla.warning",
        "chat.missed",
        "chat.offered",
    )
    return dict.fromkeys(types, handle)
