"""Request and response bodies of the ticket endpoints.

The write-back actions (``ActionBatch`` and its actions) and the value types they share with
the other bodies are defined in ``helpdesk_ticket_client.actions``, the one schema ticket-api
and its callers use; they stay importable from here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from helpdesk_events import Actor, TicketSnapshot
from helpdesk_events.vocabulary import Channel, MessageAuthor
from helpdesk_service.patch import PatchModel
from helpdesk_ticket_client.actions import Action as Action
from helpdesk_ticket_client.actions import ActionActor as ActionActor
from helpdesk_ticket_client.actions import ActionBatch as ActionBatch
from helpdesk_ticket_client.actions import AddMessageAction as AddMessageAction
from helpdesk_ticket_client.actions import Address as Address
from helpdesk_ticket_client.actions import AddTagsAction as AddTagsAction
from helpdesk_ticket_client.actions import Body as Body
from helpdesk_ticket_client.actions import DeleteAction as DeleteAction
from helpdesk_ticket_client.actions import MarkNotSpamAction as MarkNotSpamAction
from helpdesk_ticket_client.actions import MarkSpamAction as MarkSpamAction
from helpdesk_ticket_client.actions import Priority as Priority
from helpdesk_ticket_client.actions import PurgeAction as PurgeAction
from helpdesk_ticket_client.actions import RemoveTagsAction as RemoveTagsAction
from helpdesk_ticket_client.actions import ResolveAction as ResolveAction
from helpdesk_ticket_client.actions import RestoreAction as RestoreAction
from helpdesk_ticket_client.actions import SetCustomFieldsAction as SetCustomFieldsAction
from helpdesk_ticket_client.actions import SetPriorityAction as SetPriorityAction
from helpdesk_ticket_client.actions import SetSlaLevelAction as SetSlaLevelAction
from helpdesk_ticket_client.actions import SetSlaStateAction as SetSlaStateAction
from helpdesk_ticket_client.actions import SetStatusAction as SetStatusAction
from helpdesk_ticket_client.actions import SetSubjectAction as SetSubjectAction
from helpdesk_ticket_client.actions import SettableStatus as SettableStatus
from helpdesk_ticket_client.actions import Strict as Strict
from helpdesk_ticket_client.actions import Subject as Subject
from helpdesk_ticket_client.actions import TagName as TagName
from helpdesk_ticket_client.actions import TransferAction as TransferAction
from helpdesk_ticket_client.actions import WriteBack as WriteBack
from helpdesk_ticket_client.actions import WriteBacks as WriteBacks
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator


class CustomerRef(Strict):
    """Find the customer by e-mail, or create them."""

    email: EmailStr | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    phone: Annotated[str, StringConstraints(max_length=50)] | None = None

    @model_validator(mode="after")
    def _needs_something(self) -> CustomerRef:
        if not (self.email or self.name or self.phone):
            raise ValueError("give the customer's email, name or phone")
        return self


class MessageIn(Strict):
    author_kind: MessageAuthor = "customer"
    author_id: uuid.UUID | None = None
    internal: bool = False
    from_address: Address | None = Field(default=None, alias="from")
    to: list[Address] = Field(default=[], max_length=100)
    cc: list[Address] = Field(default=[], max_length=100)
    bcc: list[Address] = Field(default=[], max_length=100)
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    body: Body

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TicketCreate(Strict):
    subject: Subject
    channel: Channel = "api"
    priority: Priority = "medium"
    status: Literal["new", "open", "chatting", "calling"] = "new"
    department_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    customer: CustomerRef | None = None
    sla_level: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    tags: list[TagName] = Field(default=[], max_length=100)
    custom_fields: dict[str, Any] = {}
    referrer_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    created_from_invitation: bool = False
    message: MessageIn | None = None

    @model_validator(mode="after")
    def _one_customer(self) -> TicketCreate:
        if self.customer_id is not None and self.customer is not None:
            raise ValueError("give customer_id or customer, not both")
        return self


class TicketPatch(PatchModel):
    """Fields to change; omitted fields stay as they are. Null unassigns the department or
    the agent and clears the SLA level or the referrer."""

    nullable = frozenset({"department_id", "agent_id", "sla_level", "referrer_url"})

    subject: Subject | None = None
    status: SettableStatus | None = None
    priority: Priority | None = None
    department_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    sla_level: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    tags: list[TagName] | None = Field(default=None, max_length=100)
    custom_fields: dict[str, Any] | None = None
    referrer_url: Annotated[str, StringConstraints(max_length=2000)] | None = None


class TicketOut(TicketSnapshot):
    pass


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


class MessageOut(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    author_kind: str
    author_id: uuid.UUID | None
    internal: bool
    from_address: str | None = Field(serialization_alias="from")
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str | None
    body: str
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class HistoryOut(BaseModel):
    id: int
    occurred_at: datetime
    actor: Actor
    action: str
    field: str | None
    before: Any
    after: Any
    event_id: uuid.UUID | None
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    depth: int


class HistoryPage(BaseModel):
    items: list[HistoryOut]
    next_cursor: str | None


class TransferIn(Strict):
    department_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None


class TagsIn(Strict):
    tags: list[TagName] = Field(min_length=1, max_length=100)


class RatingIn(Strict):
    rating: Literal["good", "neutral", "bad"]
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None


class RatingOut(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    agent_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    rating: str
    comment: str | None
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class ActionResult(BaseModel):
    ticket: TicketOut | None
    purged: bool = False
    event_ids: list[uuid.UUID]


class WriteBackOutcome(BaseModel):
    """What ``POST /v1/tickets/{id}/actions`` would have answered this write-back alone."""

    status: int = Field(description="its status: 200, or 404, 409, 422 if refused")
    body: dict[str, Any] = Field(
        description="its body: an ActionResult (200) or the error (``{error: {code, message, "
        "details}}``)"
    )
    replayed: bool = Field(description="answered from the key's first request (a retry)")


class WriteBackOutcomes(BaseModel):
    """One outcome per write-back, in the order of the request."""

    results: list[WriteBackOutcome]
