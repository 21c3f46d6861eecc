"""Request and response bodies of the ticket endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from helpdesk_events import Actor, TicketSnapshot
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

Status = Literal[
    "new", "open", "answered", "resolved", "postponed", "spam", "deleted", "chatting", "calling"
]
SettableStatus = Literal[
    "open", "answered", "resolved", "postponed", "spam", "chatting", "calling", "new", "deleted"
]
Channel = Literal[
    "email",
    "chat",
    "call",
    "web_form",
    "api",
    "facebook",
    "twitter",
    "instagram",
    "whatsapp",
    "viber",
    "telegram",
    "offline_message",
    "portal",
]
Priority = Literal["low", "medium", "high", "urgent"]
TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^,]+$")
]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Body = Annotated[str, StringConstraints(max_length=200_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    author_kind: Literal["customer", "agent", "system"] = "customer"
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


class TicketPatch(Strict):
    """Fields to change; omitted fields stay as they are."""

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


# -- write-back actions -------------------------------------------------------------------


class _Action(Strict):
    pass


class TransferAction(_Action):
    type: Literal["transfer"]
    department_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None


class SetStatusAction(_Action):
    type: Literal["set_status"]
    status: SettableStatus


class ResolveAction(_Action):
    type: Literal["resolve"]


class SetPriorityAction(_Action):
    type: Literal["set_priority"]
    priority: Priority


class SetSlaLevelAction(_Action):
    type: Literal["set_sla_level"]
    sla_level: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None


class SetSubjectAction(_Action):
    type: Literal["set_subject"]
    subject: Subject


class AddTagsAction(_Action):
    type: Literal["add_tags"]
    tags: list[TagName] = Field(min_length=1, max_length=100)


class RemoveTagsAction(_Action):
    type: Literal["remove_tags"]
    tags: list[TagName] = Field(min_length=1, max_length=100)


class SetCustomFieldsAction(_Action):
    type: Literal["set_custom_fields"]
    values: dict[str, Any]


class MarkSpamAction(_Action):
    type: Literal["mark_spam"]


class MarkNotSpamAction(_Action):
    type: Literal["mark_not_spam"]


class DeleteAction(_Action):
    type: Literal["delete"]


class RestoreAction(_Action):
    type: Literal["restore"]


class PurgeAction(_Action):
    type: Literal["purge"]


class AddMessageAction(_Action):
    """Record a message on the ticket, e.g. the answer a rule sent to the customer."""

    type: Literal["add_message"]
    author_kind: Literal["agent", "system"] = "system"
    author_id: uuid.UUID | None = None
    internal: bool = False
    from_address: Address | None = Field(default=None, alias="from")
    to: list[Address] = Field(default=[], max_length=100)
    cc: list[Address] = Field(default=[], max_length=100)
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    body: Body

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Action = Annotated[
    TransferAction
    | SetStatusAction
    | ResolveAction
    | SetPriorityAction
    | SetSlaLevelAction
    | SetSubjectAction
    | AddTagsAction
    | RemoveTagsAction
    | SetCustomFieldsAction
    | MarkSpamAction
    | MarkNotSpamAction
    | DeleteAction
    | RestoreAction
    | PurgeAction
    | AddMessageAction,
    Field(discriminator="type"),
]


class ActionActor(Strict):
    kind: Literal["rule", "sla_rule", "time_rule", "router", "sla_tracker", "system", "service"]
    id: Annotated[str, StringConstraints(max_length=100)] | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None


class ActionBatch(Strict):
    """Changes a service applies to one ticket in one transaction, on behalf of ``actor``."""

    actor: ActionActor
    actions: list[Action] = Field(min_length=1, max_length=50)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    depth: int = Field(default=0, ge=0, le=1000)
    # Apply only if the ticket is still at this version (optimistic check), else 409.
    expected_version: int | None = None


class ActionResult(BaseModel):
    ticket: TicketOut | None
    purged: bool = False
    event_ids: list[uuid.UUID]
