"""The write-back action vocabulary: what a service may change on a ticket in one batch
(``POST /v1/tickets/{id}/actions``).

ticket-api validates requests with these models and callers build their batches with them,
so the two cannot disagree on a name or a limit. The value types (``TagName``, ``Priority``…)
are the ticket's own and ticket-api's other request bodies use them too.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from helpdesk_events.vocabulary import Priority as Priority
from helpdesk_events.vocabulary import TicketStatus
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

# A request may name any status; ticket-api refuses the transitions a ticket cannot make.
SettableStatus = TicketStatus
TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^,]+$")
]
# The tags one action adds or removes.
TagList = Annotated[list[TagName], Field(min_length=1, max_length=100)]
SlaLevel = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Body = Annotated[str, StringConstraints(max_length=200_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    sla_level: SlaLevel | None


class SetSlaStateAction(_Action):
    """The ticket's SLA state as the sla-tracker computed it: when its running response
    clock is due (None: no clock running) and whether its SLA is missed.

    The sla-tracker's own bookkeeping, refused from any other actor; rules change the level,
    never this. ``stamp`` counts the tracker's states of the ticket up: a state with a stamp
    not above the ticket's is older than what the ticket shows and changes nothing, so a
    delayed retry cannot undo a newer state."""

    type: Literal["set_sla_state"]
    due_at: AwareDatetime | None
    late: bool
    stamp: int = Field(ge=1)


class SetSubjectAction(_Action):
    type: Literal["set_subject"]
    subject: Subject


class AddTagsAction(_Action):
    type: Literal["add_tags"]
    tags: TagList


class RemoveTagsAction(_Action):
    type: Literal["remove_tags"]
    tags: TagList


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
    | SetSlaStateAction
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


# The longest Idempotency-Key ticket-api keeps.
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# The most write-backs one ``POST /v1/tickets/actions`` takes: its transaction holds every
# ticket it changed locked until the last one is applied.
MAX_WRITE_BACKS = 200


class WriteBack(Strict):
    """One write-back of several sent together: what ``POST /v1/tickets/{id}/actions``
    takes in its path, its ``Idempotency-Key`` header and its body."""

    ticket_id: uuid.UUID
    idempotency_key: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
    ]
    batch: ActionBatch


class WriteBacks(Strict):
    """Write-backs applied in one request (``POST /v1/tickets/actions``), each once per key."""

    items: list[WriteBack] = Field(min_length=1, max_length=MAX_WRITE_BACKS)

    @model_validator(mode="after")
    def _keys_differ(self) -> WriteBacks:
        indexes: dict[str, list[int]] = {}
        for index, item in enumerate(self.items):
            indexes.setdefault(item.idempotency_key, []).append(index)
        repeated = [found for found in indexes.values() if len(found) > 1]
        if repeated:
            named = "; ".join(", ".join(f"items[{i}]" for i in found) for found in repeated)
            raise ValueError(
                f"{named}: the same idempotency_key; one request applies a key once, "
                "send the repeat in a later request"
            )
        return self
