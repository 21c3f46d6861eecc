"""Rule definitions as the admin API takes and returns them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from helpdesk_ticket_client.actions import Priority, SlaLevel, TagList
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ..engine.templates import check_template

Trigger = Literal[
    "ticket_created",
    "ticket_created_from_email",
    "status_changed",
    "ticket_transferred",
    "offline_message_added",
    "agent_rated",
    "tags_changed",
    "customer_replied",
    "agent_replied",
    "sla_breached",
]
TRIGGERS: tuple[str, ...] = Trigger.__args__  # type: ignore[attr-defined]


def _template(value: str) -> str:
    check_template(value)
    return value


# Text fields of actions are Jinja templates with ticket placeholders, checked on save.
Template = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(_template)]
ShortTemplate = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_template)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_url_template(url: str) -> str:
    if "{{" not in url.split("?", 1)[0].split("//", 1)[-1].split("/", 1)[0]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
    elif not url.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return url


UrlTemplate = Annotated[ShortTemplate, AfterValidator(_check_url_template)]
HeaderValue = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_template)]


class Transfer(Strict):
    type: Literal["transfer"]
    department_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None


class Resolve(Strict):
    type: Literal["resolve"]


class Delete(Strict):
    type: Literal["delete"]


class ChangePriority(Strict):
    type: Literal["change_priority"]
    priority: Priority


class ChangeSlaLevel(Strict):
    type: Literal["change_sla_level"]
    sla_level: SlaLevel


class MarkSpam(Strict):
    type: Literal["mark_spam"]


class MarkNotSpam(Strict):
    type: Literal["mark_not_spam"]


class Purge(Strict):
    type: Literal["purge"]


class SendAnswer(Strict):
    """Reply to the customer: recorded on the ticket, sent by the notifier."""

    type: Literal["send_answer"]
    subject: ShortTemplate | None = None
    body: Template


class ChangeSubject(Strict):
    type: Literal["change_subject"]
    subject: ShortTemplate


class CallUrl(Strict):
    type: Literal["call_url"]
    url: UrlTemplate


class AddTags(Strict):
    type: Literal["add_tags"]
    tags: TagList


class RemoveTags(Strict):
    type: Literal["remove_tags"]
    tags: TagList


class SendEmail(Strict):
    type: Literal["send_email"]
    to: list[
        Annotated[
            str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
        ]
    ] = Field(min_length=1, max_length=50)
    subject: ShortTemplate
    body: Template


class StopRules(Strict):
    type: Literal["stop_rules"]


class HttpRequest(Strict):
    type: Literal["http_request"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: UrlTemplate
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], HeaderValue] = (
        Field(default={}, max_length=50)
    )
    body: Template | None = None


Action = Annotated[
    Transfer
    | Resolve
    | Delete
    | ChangePriority
    | ChangeSlaLevel
    | MarkSpam
    | MarkNotSpam
    | Purge
    | SendAnswer
    | ChangeSubject
    | CallUrl
    | AddTags
    | RemoveTags
    | SendEmail
    | StopRules
    | HttpRequest,
    Field(discriminator="type"),
]
SLA_RULE_ACTIONS = frozenset({"change_sla_level", "stop_rules"})


class RuleIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    kind: Literal["action", "sla"] = "action"
    active: bool = True
    shadow: bool = False
    # Rules run in ascending position; omitted = after the last rule of its kind.
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    trigger: Trigger = "ticket_created"
    conditions: dict[str, Any] = Field(default_factory=lambda: {"any": []})
    actions: list[Action] = Field(min_length=1, max_length=50)


class RulePatch(Strict):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    active: bool | None = None
    shadow: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    trigger: Trigger | None = None
    conditions: dict[str, Any] | None = None
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=50)


class RuleOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    notes: str | None
    active: bool
    shadow: bool
    position: int
    trigger: str
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)
