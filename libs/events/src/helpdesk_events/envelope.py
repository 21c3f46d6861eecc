"""The event envelope and the typed events every service publishes or consumes.

One envelope for every event (see docs/events.md). Events are frozen pydantic models joined
in one discriminated union; ``decode_event`` turns wire bytes into a typed event, or into an
``UnknownEvent`` for types this version does not know, which consumers ignore. Additive
changes keep ``schema_version``; breaking ones bump it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .vocabulary import AgentRole, MessageAuthor

SCHEMA_VERSION = 1

ActorKind = Literal[
    "admin",
    "agent",
    "customer",
    "service",
    "rule",
    "sla_rule",
    "time_rule",
    "router",
    "sla_tracker",
    "system",
]


class _Frozen(BaseModel):
    # Consumers must ignore fields they do not know, so later producers can add fields.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Actor(_Frozen):
    """Who or what made a change: an agent, a customer, rule 17, the router…"""

    kind: ActorKind
    id: str | None = None
    name: str | None = None


class Change(_Frozen):
    before: Any = None
    after: Any = None


class MessageSnapshot(_Frozen):
    id: uuid.UUID
    ticket_id: uuid.UUID
    author_kind: MessageAuthor
    author_id: uuid.UUID | None = None
    internal: bool = False
    from_address: str | None = None
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []
    subject: str | None = None
    body: str = ""
    created_at: datetime


class TicketSnapshot(_Frozen):
    """The ticket after the change, so consumers evaluate conditions without calling back."""

    id: uuid.UUID
    code: str
    subject: str
    status: str
    channel: str
    priority: str
    department_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    # Availability of the assigned agent on the ticket's channel (online / away / offline).
    agent_status: str | None = None
    customer_id: uuid.UUID | None = None
    customer_email: str | None = None
    customer_group_ids: list[uuid.UUID] = []
    sla_level: str | None = None
    # Written back by the sla-tracker: when the ticket's running response clock is due
    # (None: none running) and whether its SLA is missed (its latest clock breached or
    # answered late).
    sla_due_at: datetime | None = None
    sla_late: bool = False
    tags: list[str] = []
    custom_fields: dict[str, Any] = {}
    referrer_url: str | None = None
    created_from_invitation: bool = False
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    status_changed_at: datetime
    first_customer_message_at: datetime | None = None
    last_customer_message_at: datetime | None = None
    first_agent_reply_at: datetime | None = None
    last_agent_reply_at: datetime | None = None
    last_message_at: datetime | None = None
    last_message_author: MessageAuthor | None = None
    last_message: MessageSnapshot | None = None
    message_count: int = 0
    # Increases by one with every committed change: consumers can drop stale snapshots.
    version: int


class RatingSnapshot(_Frozen):
    id: uuid.UUID
    ticket_id: uuid.UUID
    agent_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    rating: Literal["good", "neutral", "bad"]
    comment: str | None = None
    created_at: datetime


class AgentSnapshot(_Frozen):
    id: uuid.UUID
    name: str
    email: str
    role: AgentRole
    active: bool
    department_ids: list[uuid.UUID] = []
    # channel -> online / away / offline
    availability: dict[str, str] = {}


class EventBase(_Frozen):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime
    ticket_id: uuid.UUID | None = None
    actor: Actor
    # The originating request; every event a cascade of rules causes keeps it.
    correlation_id: uuid.UUID
    # The event that caused this one (None for changes a client made directly).
    causation_id: uuid.UUID | None = None
    # How many automatic steps separate this event from the originating request.
    depth: int = 0
    changes: dict[str, Change] = {}

    def partition_key(self) -> bytes:
        return str(self.ticket_id).encode()


class TicketEventBase(EventBase):
    ticket_id: uuid.UUID
    ticket: TicketSnapshot


class TicketCreated(TicketEventBase):
    """A ticket was created (by a client, an integration, or the e-mail/chat gateway)."""

    type: Literal["ticket.created"] = "ticket.created"
    # The first message, when the ticket was created with one.
    message: MessageSnapshot | None = None


class TicketUpdated(TicketEventBase):
    """Fields other than status, responsibility and tags changed (subject, priority, SLA level…)."""

    type: Literal["ticket.updated"] = "ticket.updated"


class TicketStatusChanged(TicketEventBase):
    """The status moved; emitted next to ``message.added`` when a message moved it."""

    type: Literal["ticket.status_changed"] = "ticket.status_changed"


class TicketTransferred(TicketEventBase):
    """Responsibility moved: department and/or agent changed."""

    type: Literal["ticket.transferred"] = "ticket.transferred"


class TicketTagsChanged(TicketEventBase):
    """Tags were added or removed (``changes`` holds the whole list before and after)."""

    type: Literal["ticket.tags_changed"] = "ticket.tags_changed"


class TicketDeleted(TicketEventBase):
    """Soft delete: status ``deleted``; the ticket can still be restored or purged."""

    type: Literal["ticket.deleted"] = "ticket.deleted"


class TicketRestored(TicketEventBase):
    """A deleted ticket came back (status ``new``, or ``open`` if an agent had answered)."""

    type: Literal["ticket.restored"] = "ticket.restored"


class TicketPurged(TicketEventBase):
    """The ticket and its messages are gone for good; ``ticket`` is its last state."""

    type: Literal["ticket.purged"] = "ticket.purged"


class TicketRated(TicketEventBase):
    """The customer rated the agent responsible for the ticket."""

    type: Literal["ticket.rated"] = "ticket.rated"
    rating: RatingSnapshot


class MessageAdded(TicketEventBase):
    """A customer message, an agent reply, a system message or an internal note."""

    type: Literal["message.added"] = "message.added"
    message: MessageSnapshot


class SlaTarget(_Frozen):
    """Which response target of which SLA level a ticket missed (or is about to)."""

    level: str
    target: Literal["first_response", "next_response", "chat_response", "call_response"]
    due_at: datetime


class SlaBreached(TicketEventBase):
    """A ticket's response was not given by its SLA due date (topic ``helpdesk.sla``, keyed
    by ticket). Published by the sla-tracker; sets off the rule trigger ``sla_breached``."""

    type: Literal["sla.breached"] = "sla.breached"
    sla: SlaTarget


class ChatMissed(EventBase):
    """Nobody accepted the router's offer of a chat in time (topic ``helpdesk.tickets``,
    keyed by ticket). Published by the router; the notifier tells whom it concerns."""

    type: Literal["chat.missed"] = "chat.missed"
    ticket_id: uuid.UUID
    department_id: uuid.UUID
    # The agents the chat was offered to, and when.
    offered_to: list[uuid.UUID]
    offered_at: datetime


class ChatOffered(EventBase):
    """The router offered a chat to several agents at once, the first to accept gets it
    (ring all; topic ``helpdesk.tickets``, keyed by ticket). Published by the router with
    every offer, a new one after a timed-out offer included; the notifier rings the agents.
    Carries no ticket snapshot, like ``chat.missed``: the router keeps none."""

    type: Literal["chat.offered"] = "chat.offered"
    ticket_id: uuid.UUID
    department_id: uuid.UUID
    offer_id: uuid.UUID
    offered_to: list[uuid.UUID]
    # Until when the offer can be accepted (it expires then, and ``chat.missed`` follows).
    expires_at: datetime


class SlaWarning(TicketEventBase):
    """A ticket's response is due soon: its level's warning threshold (business minutes
    before the due date) has passed (topic ``helpdesk.sla``, keyed by ticket). Published by
    the sla-tracker, at most once per clock; sets off the rule trigger ``sla_warning``."""

    type: Literal["sla.warning"] = "sla.warning"
    sla: SlaTarget


class _AgentEvent(EventBase):
    agent_id: uuid.UUID
    agent: AgentSnapshot

    def partition_key(self) -> bytes:
        return str(self.agent_id).encode()


class AgentCreated(_AgentEvent):
    """An agent was created."""

    type: Literal["agent.created"] = "agent.created"


class AgentUpdated(_AgentEvent):
    """Name, role, departments or active flag changed."""

    type: Literal["agent.updated"] = "agent.updated"


class AgentAvailabilityChanged(_AgentEvent):
    """An agent went online, away or offline on one or more channels."""

    type: Literal["agent.availability_changed"] = "agent.availability_changed"


class OutboundRequest(_Frozen):
    """Something the notifier must send on a rule's behalf, already rendered."""

    kind: Literal["send_email", "send_answer", "call_url", "http_request"]
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []
    subject: str | None = None
    body: str | None = None
    url: str | None = None
    method: str | None = None
    headers: dict[str, str] = {}
    # Stable across retries of the same rule action: the notifier sends once per key.
    dedupe_key: str

    @classmethod
    def json_post(cls, url: str, body: str, *, dedupe_key: str) -> OutboundRequest:
        """An HTTP POST of the JSON document ``body``."""
        return cls(
            kind="http_request",
            url=url,
            method="POST",
            headers={"content-type": "application/json"},
            body=body,
            dedupe_key=dedupe_key,
        )


class NotificationRequested(EventBase):
    """A rule asked for an e-mail, an answer to the customer, or an HTTP call (topic
    ``helpdesk.notifications``, keyed by ticket)."""

    type: Literal["notification.requested"] = "notification.requested"
    request: OutboundRequest
    ticket: TicketSnapshot | None = None

    def partition_key(self) -> bytes:
        return str(self.ticket_id or self.id).encode()


class UnknownEvent(EventBase):
    """An event of a type this version does not know; consumers skip it."""

    model_config = ConfigDict(frozen=True, extra="allow")


TicketEvent = Union[  # noqa: UP007 - a discriminated union needs the Union spelling here
    TicketCreated,
    TicketUpdated,
    TicketStatusChanged,
    TicketTransferred,
    TicketTagsChanged,
    TicketDeleted,
    TicketRestored,
    TicketPurged,
    TicketRated,
    MessageAdded,
]
AgentEvent = Union[AgentCreated, AgentUpdated, AgentAvailabilityChanged]  # noqa: UP007

Event = Annotated[
    Union[  # noqa: UP007
        TicketEvent,
        AgentEvent,
        NotificationRequested,
        SlaBreached,
        ChatMissed,
        SlaWarning,
        ChatOffered,
    ],
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
# The nested unions flatten: the members of ``Event``'s union are the event classes.
EVENT_TYPES: frozenset[str] = frozenset(
    cls.model_fields["type"].default for cls in get_args(get_args(Event)[0])
)


class UndecodableEvent(ValueError):
    """The bytes are not an event envelope at all (not JSON, or no id/type)."""


def encode_event(event: EventBase) -> bytes:
    return event.model_dump_json().encode()


def decode_event(data: bytes) -> EventBase:
    """Decode wire bytes; an unknown ``type`` gives an ``UnknownEvent``."""
    try:
        # The common case in one step (parsing and validating in pydantic-core: 15 us for
        # a new ticket's event, where loading to a dict first took 24); anything else is
        # sorted out below.
        event: EventBase = EVENT_ADAPTER.validate_json(data)
        if "id" in event.model_fields_set:  # (an envelope must carry its id, not get one)
            return event
    except ValidationError:
        pass
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UndecodableEvent(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict) or "type" not in raw or "id" not in raw:
        raise UndecodableEvent("not an event envelope: needs an object with id and type")
    try:
        if raw["type"] in EVENT_TYPES:
            return EVENT_ADAPTER.validate_python(raw)
        return UnknownEvent.model_validate(raw)
    except ValidationError as exc:
        raise UndecodableEvent(str(exc)) from exc
