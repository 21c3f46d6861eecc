"""What a rule can do: the actions, as rules store them and plan.py plans them.

Their text fields are Jinja templates with ticket placeholders (see templates.py), checked
when a rule is saved.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from helpdesk_ticket_client.actions import Priority, SlaLevel, TagList
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from .templates import check_template


def _template(value: str) -> str:
    check_template(value)
    return value


# Text fields of actions are Jinja templates with ticket placeholders, checked on save.
Template = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(_template)]
ShortTemplate = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_template)
]


class StrictModel(BaseModel):
    """Refuses keys it does not know: a misspelt setting must not be dropped silently."""

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


class Transfer(StrictModel):
    type: Literal["transfer"]
    department_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _has_a_target(self) -> Transfer:
        if self.department_id is None and self.agent_id is None:
            raise ValueError("a transfer names a department_id, an agent_id or both")
        return self


class Resolve(StrictModel):
    type: Literal["resolve"]


class Delete(StrictModel):
    type: Literal["delete"]


class ChangePriority(StrictModel):
    type: Literal["change_priority"]
    priority: Priority


class ChangeSlaLevel(StrictModel):
    type: Literal["change_sla_level"]
    sla_level: SlaLevel


class MarkSpam(StrictModel):
    type: Literal["mark_spam"]


class MarkNotSpam(StrictModel):
    type: Literal["mark_not_spam"]


class Purge(StrictModel):
    type: Literal["purge"]


class SendAnswer(StrictModel):
    """Reply to the customer: recorded on the ticket, sent by the notifier."""

    type: Literal["send_answer"]
    subject: ShortTemplate | None = None
    body: Template


class ChangeSubject(StrictModel):
    type: Literal["change_subject"]
    subject: ShortTemplate


class CallUrl(StrictModel):
    type: Literal["call_url"]
    url: UrlTemplate


class AddTags(StrictModel):
    type: Literal["add_tags"]
    tags: TagList


class RemoveTags(StrictModel):
    type: Literal["remove_tags"]
    tags: TagList


class SendEmail(StrictModel):
    type: Literal["send_email"]
    to: list[
        Annotated[
            str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
        ]
    ] = Field(min_length=1, max_length=50)
    subject: ShortTemplate
    body: Template


class StopRules(StrictModel):
    type: Literal["stop_rules"]


class HttpRequest(StrictModel):
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


def dump_actions(actions: list[Any]) -> list[dict[str, Any]]:
    """Actions as a rule stores them. Only what the admin set: a transfer to a department
    alone must not gain "agent_id": null."""
    return [a.model_dump(mode="json", exclude_unset=True) for a in actions]
