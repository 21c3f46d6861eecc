"""Which agents an event concerns, and how (pure functions, no I/O).

A ticket event names the agent of kinds about "my ticket" (assigned to me, customer
replied, reopened, SLA warning and breach, a new chat message), the router's ringing and
missed chat the agents it offered the chat to; for the department-wide kinds (a new ticket
in my department, a ticket in my department reopened) it names the department, and the handler
asks ticket-api for its agents."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC
from typing import Literal, get_args

from helpdesk_events import (
    ChatMissed,
    ChatOffered,
    EventBase,
    MessageAdded,
    SlaBreached,
    SlaWarning,
    TicketCreated,
    TicketSnapshot,
    TicketStatusChanged,
    TicketTransferred,
)

Kind = Literal[
    "assigned",
    "customer_replied",
    "reopened",
    "sla_breached",
    "department_new",
    "department_reopened",
    "sla_warning",
    "chat_message",
    "chat_missed",
    "chat_ringing",
]
Channel = Literal["in_app", "email", "slack", "push"]
KINDS: tuple[Kind, ...] = get_args(Kind)
CHANNELS: tuple[Channel, ...] = get_args(Channel)
# A new agent gets every kind in the app, and nothing by e-mail, in Slack (it also needs
# their incoming-webhook URL) or as mobile push until they turn it on.
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


@dataclass(frozen=True)
class DepartmentNotice:
    """A notice for every agent of ``department_id`` except those ``excluded`` (the one
    who acted, and the ticket's own agent, who hears of it as "my ticket")."""

    department_id: uuid.UUID
    kind: Kind
    ticket_id: uuid.UUID
    title: str
    excluded: frozenset[uuid.UUID]

    def to(self, agent_id: uuid.UUID) -> AgentNotice:
        return AgentNotice(agent_id, self.kind, self.ticket_id, self.title)


Notice = AgentNotice | DepartmentNotice


def notices_for(event: EventBase) -> list[Notice]:
    """The agent notifications ``event`` makes. An agent is not told of their own act."""
    match event:
        case TicketCreated():
            return _agent_and_department(
                event,
                ("assigned", "assigned to you"),
                ("department_new", "new in your department"),
            )
        case TicketTransferred():
            agent = event.ticket.agent_id
            change = event.changes.get("agent_id")
            if (
                agent is None
                or change is None
                or str(change.after) == str(change.before)
                or _by(event, agent)
            ):
                return []
            return [_notice(agent, "assigned", event.ticket, "assigned to you")]
        case MessageAdded():
            agent = event.ticket.agent_id
            if agent is None or event.message.author_kind != "customer":
                return []
            if event.ticket.channel == "chat":
                return [_notice(agent, "chat_message", event.ticket, "new chat message")]
            return [_notice(agent, "customer_replied", event.ticket, "the customer replied")]
        case TicketStatusChanged():
            change = event.changes.get("status")
            if change is None or change.before not in _SETTLED or change.after != "open":
                return []
            return _agent_and_department(
                event,
                ("reopened", "reopened"),
                ("department_reopened", "reopened in your department"),
            )
        case SlaBreached():
            agent = event.ticket.agent_id
            if agent is None:
                return []
            return [_notice(agent, "sla_breached", event.ticket, "SLA breached")]
        case SlaWarning():
            agent = event.ticket.agent_id
            if agent is None:
                return []
            target = event.sla.target.replace("_", " ")
            return [_notice(agent, "sla_warning", event.ticket, f"{target} due soon")]
        case ChatMissed():
            # The event carries no ticket snapshot: the title says when it rang.
            title = f"missed chat, offered at {event.offered_at.astimezone(UTC):%H:%M} UTC"
            return _each_offered(event, "chat_missed", title)
        case ChatOffered():
            # No ticket snapshot either: the title says until when the agent can accept.
            title = f"chat ringing, accept by {event.expires_at.astimezone(UTC):%H:%M:%S} UTC"
            return _each_offered(event, "chat_ringing", title)
    return []


def _each_offered(event: ChatMissed | ChatOffered, kind: Kind, title: str) -> list[Notice]:
    """One notice for each agent the chat was offered to, once however often listed."""
    agents = dict.fromkeys(event.offered_to)
    return [AgentNotice(agent, kind, event.ticket_id, title) for agent in agents]


def _by(event: EventBase, agent: uuid.UUID) -> bool:
    return event.actor.kind in ("agent", "admin") and event.actor.id == str(agent)


def _agent_and_department(
    event: TicketCreated | TicketStatusChanged,
    to_agent: tuple[Kind, str],
    to_department: tuple[Kind, str],
) -> list[Notice]:
    """The ticket's agent (unless they acted) and the rest of its department, each told
    with its (kind, title)."""
    notices: list[Notice] = []
    agent = event.ticket.agent_id
    if agent is not None and not _by(event, agent):
        kind, what = to_agent
        notices.append(_notice(agent, kind, event.ticket, what))
    return notices + _department(event, *to_department)


def _department(event: TicketCreated | TicketStatusChanged, kind: Kind, what: str) -> list[Notice]:
    ticket = event.ticket
    if ticket.department_id is None:
        return []
    excluded = {ticket.agent_id} if ticket.agent_id is not None else set()
    if event.actor.kind in ("agent", "admin") and event.actor.id is not None:
        # An actor id that is no agent's (a bootstrap key's) excludes no one.
        with contextlib.suppress(ValueError):
            excluded.add(uuid.UUID(event.actor.id))
    return [
        DepartmentNotice(
            department_id=ticket.department_id,
            kind=kind,
            ticket_id=ticket.id,
            title=f"{ticket.code} {what}: {ticket.subject}",
            excluded=frozenset(excluded),
        )
    ]


def _notice(agent: uuid.UUID, kind: Kind, ticket: TicketSnapshot, what: str) -> AgentNotice:
    return AgentNotice(
        agent_id=agent,
        kind=kind,
        ticket_id=ticket.id,
        title=f"{ticket.code} {what}: {ticket.subject}",
    )
