"""Which agent an event concerns, and how (pure functions, no I/O).

Built so far: the in-app, Slack and push channels for the kinds a ticket event tells
about on its own — assigned to me, customer replied on my ticket, my ticket reopened, SLA
breached on my ticket. Department-wide kinds need the department's agents and are not built yet."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from helpdesk_events import (
    EventBase,
    MessageAdded,
    SlaBreached,
    TicketCreated,
    TicketSnapshot,
    TicketStatusChanged,
    TicketTransferred,
)

Kind = Literal["assigned", "customer_replied", "reopened", "sla_breached"]
Channel = Literal["in_app", "slack", "push"]
KINDS: tuple[Kind, ...] = ("assigned", "customer_replied", "reopened", "sla_breached")
CHANNELS: tuple[Channel, ...] = ("in_app", "slack", "push")
# A new agent gets every kind in the app, and nothing in Slack (it also needs their
# incoming-webhook URL) or as mobile push until they turn it on.
DEFAULTS: dict[tuple[Kind, Channel], bool] = {
    (kind, channel): channel == "in_app" for kind in KINDS for channel in CHANNELS
}
# A ticket comes back from these to "open" when it is reopened.
_SETTLED = frozenset({"resolved", "postponed"})


@dataclass(frozen=True)
class AgentNotice:
    agent_id: uuid.UUID
    kind: Kind
    ticket_id: uuid.UUID
    title: str


def notices_for(event: EventBase) -> list[AgentNotice]:
    """The agent notifications ``event`` makes. An agent is not told of their own act."""
    match event:
        case TicketCreated() | TicketTransferred():
            agent = event.ticket.agent_id
            change = event.changes.get("agent_id")
            newly = isinstance(event, TicketCreated) or (
                change is not None and str(change.after) != str(change.before)
            )
            if agent is None or not newly or _by(event, agent):
                return []
            return [_notice(agent, "assigned", event.ticket, "assigned to you")]
        case MessageAdded():
            agent = event.ticket.agent_id
            if agent is None or event.message.author_kind != "customer":
                return []
            return [_notice(agent, "customer_replied", event.ticket, "the customer replied")]
        case TicketStatusChanged():
            agent = event.ticket.agent_id
            change = event.changes.get("status")
            if (
                agent is None
                or change is None
                or change.before not in _SETTLED
                or change.after != "open"
                or _by(event, agent)
            ):
                return []
            return [_notice(agent, "reopened", event.ticket, "reopened")]
        case SlaBreached():
            agent = event.ticket.agent_id
            if agent is None:
                return []
            return [_notice(agent, "sla_breached", event.ticket, "SLA breached")]
    return []


def _by(event: EventBase, agent: uuid.UUID) -> bool:
    return event.actor.kind in ("agent", "admin") and event.actor.id == str(agent)


def _notice(agent: uuid.UUID, kind: Kind, ticket: TicketSnapshot, what: str) -> AgentNotice:
    return AgentNotice(
        agent_id=agent,
        kind=kind,
        ticket_id=ticket.id,
        title=f"{ticket.code} {what}: {ticket.subject}",
    )
