"""Every change to a ticket goes through a ``TicketEditor``: the rules of the help desk.

The editor works on a ticket read (and locked) by its caller, applies changes with the rules
of the help desk (a customer message reopens a resolved ticket, a transfer to a department
alone unassigns, a deleted ticket cannot be edited…), and on ``save`` writes the ticket, one
history row per changed field and the domain events to the outbox in one statement through
its store (statements.py), in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

from helpdesk_events import Change, EventBase, Topics, outbox_rows
from helpdesk_service.errors import Conflict, Unprocessable
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ..db import detached
from ..models import Message, Rating, Ticket
from ..origin import Origin
from .custom_fields import validate_custom_fields
from .history import (
    Happening,
    change_events,
    created_events,
    event_base,
    history_rows,
    jsonable,
    purged_event,
)
from .schemas import AddMessageAction, MessageIn
from .snapshot import SnapshotContext, ticket_snapshot
from .statements import (
    EditorStore,
    SessionStore,
    WriteShape,
    bind_row,
    row_of,
    table_of,
    write_params,
)

_LIVE_STATUSES = {"chatting": "chat", "calling": "call"}
_WAITING_ON_CUSTOMER = ("answered", "resolved", "postponed")


class TicketEditor:
    def __init__(
        self,
        session: AsyncSession | None,
        ticket: Ticket,
        origin: Origin,
        now: datetime,
        topics: Topics,
        *,
        context: SnapshotContext | None = None,
        store: EditorStore | None = None,
    ) -> None:
        """With ``session``, the editor reads and writes through it (``SessionStore``);
        with ``store`` and no session, every change but a rating (which the ORM writes) can
        be made."""
        if store is None and session is not None:
            store = SessionStore(session)
        self._store = store
        self._session = session
        self.ticket = ticket
        self.origin = origin
        self.now = now
        self.topics = topics
        self._changes: dict[str, Change] = {}
        self._happenings: list[Happening] = []
        self._tag_names: dict[str, None] = {}
        self._context = context or SnapshotContext()
        self._created = False
        self._new_messages: list[Message] = []
        self._orm_pending = False
        self.events: list[EventBase] = []

    @property
    def store(self) -> EditorStore:
        assert self._store is not None, "this change needs the database"
        return self._store

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "this change needs the ORM session"
        return self._session

    # -- field changes -------------------------------------------------------------------

    def _set(self, field: str, value: Any) -> None:
        before = getattr(self.ticket, field)
        if before == value:
            return
        if field in self._changes:
            original = self._changes[field].before
            self._changes[field] = Change(before=original, after=jsonable(value))
            if original == jsonable(value):
                del self._changes[field]
        else:
            self._changes[field] = Change(before=jsonable(before), after=jsonable(value))
        # The editor writes the row itself (``save``): the ORM must not flush it again.
        set_committed_value(self.ticket, field, value)

    def _ensure_editable(self) -> None:
        if self.ticket.deleted_at is not None:
            raise Conflict(
                f"ticket {self.ticket.code} is deleted; restore it before changing it",
                code="ticket_deleted",
            )

    def set_status(self, status: str) -> None:
        self._ensure_editable()
        current = self.ticket.status
        if status == current:
            return
        if status == "deleted":
            raise Unprocessable(
                "status: use DELETE /v1/tickets/{id} (or the delete action) to delete a ticket",
                code="invalid_transition",
            )
        if status == "new":
            raise Conflict(
                f"status: a ticket cannot go back to new (it is {current})",
                code="invalid_transition",
            )
        live_channel = _LIVE_STATUSES.get(status)
        if live_channel is not None and self.ticket.channel != live_channel:
            raise Conflict(
                f"status: {status} is only for {live_channel} tickets; this one came by "
                f"{self.ticket.channel}",
                code="invalid_transition",
            )
        self._set("status", status)
        self._set("status_changed_at", self.now)

    def mark_spam(self) -> None:
        self.set_status("spam")

    def mark_not_spam(self) -> None:
        self._ensure_editable()
        if self.ticket.status != "spam":
            return
        self._set("status", "open" if self.ticket.first_agent_reply_at else "new")
        self._set("status_changed_at", self.now)

    def set_priority(self, priority: str) -> None:
        self._ensure_editable()
        self._set("priority", priority)

    def set_subject(self, subject: str) -> None:
        self._ensure_editable()
        self._set("subject", subject)

    def set_sla_level(self, level: str | None) -> None:
        self._ensure_editable()
        self._set("sla_level", level)

    def set_sla_state(self, due_at: datetime | None, late: bool, stamp: int) -> None:
        """The SLA state the sla-tracker computed. Its bookkeeping follows the ticket
        through deletion too (a deleted ticket's clock stops), so no editability check;
        a stamp not above the ticket's is a stale state and changes nothing."""
        if self.origin.actor.kind != "sla_tracker":
            raise Unprocessable("the SLA state is the sla-tracker's to set; set sla_level instead")
        if stamp <= self.ticket.sla_stamp:
            return
        self._set("sla_due_at", due_at)
        self._set("sla_late", late)
        self._set("sla_stamp", stamp)

    def set_referrer_url(self, url: str | None) -> None:
        self._ensure_editable()
        self._set("referrer_url", url)

    async def transfer(
        self,
        *,
        department_id: uuid.UUID | None,
        agent_id: uuid.UUID | None,
        department_given: bool,
        agent_given: bool,
    ) -> None:
        """Move responsibility. A department alone leaves the ticket unassigned there."""
        self._ensure_editable()
        if not department_given and not agent_given:
            raise Unprocessable("transfer: give department_id, agent_id or both")
        target_department = department_id if department_given else self.ticket.department_id
        if (
            department_given
            and department_id is not None
            and not await self.store.department_exists(department_id)
        ):
            raise Unprocessable(
                f"department_id: no department with id {department_id}", code="unknown_reference"
            )
        target_agent = agent_id if agent_given else None
        if target_agent is not None:
            agent = await self.store.agent(target_agent)
            if agent is None:
                raise Unprocessable(
                    f"agent_id: no agent with id {target_agent}", code="unknown_reference"
                )
            if not agent.active:
                raise Unprocessable(f"agent_id: agent {agent.name} is deactivated")
            if target_department is not None and not await self.store.is_member(
                target_agent, target_department
            ):
                raise Unprocessable(
                    f"agent_id: agent {agent.name} is not in department {target_department}; "
                    "add them to it or transfer to one of their departments"
                )
            self._context.agent_availability = agent.availability
        else:
            self._context.agent_availability = None
        self._set("department_id", target_department)
        self._set("agent_id", target_agent)

    async def assign(self, agent_id: uuid.UUID | None) -> None:
        await self.transfer(
            department_id=None, agent_id=agent_id, department_given=False, agent_given=True
        )

    async def set_tags(self, tags: Iterable[str]) -> None:
        self._ensure_editable()
        wanted = _dedupe(tags)
        # Tags are created on first use (with the change's write), so rules and agents can
        # tag freely.
        self._tag_names.update(dict.fromkeys(wanted))
        self._set("tags", wanted)

    async def add_tags(self, tags: Iterable[str]) -> None:
        await self.set_tags([*(self.ticket.tags or []), *tags])

    async def remove_tags(self, tags: Iterable[str]) -> None:
        drop = set(tags)
        await self.set_tags([t for t in self.ticket.tags or [] if t not in drop])

    async def set_custom_fields(self, values: dict[str, Any], *, replace: bool = False) -> None:
        self._ensure_editable()
        cleaned = await validate_custom_fields(self.store, values)
        merged = {} if replace else dict(self.ticket.custom_fields or {})
        for key, value in cleaned.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        self._set("custom_fields", merged)

    # -- messages, ratings, lifecycle ----------------------------------------------------

    async def add_message(
        self,
        draft: MessageIn | AddMessageAction,
        *,
        author_id: uuid.UUID | None = None,
        from_address: str | None = None,
        subject: str | None = None,
    ) -> Message:
        """Add the message ``draft`` describes. ``author_id``, ``from_address`` and ``subject``
        stand where the draft gives none (the customer, their address, the ticket's subject)."""
        self._ensure_editable()
        author_kind, internal = draft.author_kind, draft.internal
        author_id = draft.author_id or author_id
        if internal and author_kind == "customer":
            raise Unprocessable("internal: customers cannot write internal notes")
        # An agent's reply can make them responsible: it must be a real agent.
        if (
            author_kind == "agent"
            and author_id is not None
            and await self.store.agent(author_id) is None
        ):
            raise Unprocessable(
                f"author_id: no agent with id {author_id}", code="unknown_reference"
            )
        # Without a session (a plain connection), nothing needs the ORM's bookkeeping.
        message = (Message if self._session is not None else partial(detached, Message))(
            id=uuid.uuid4(),
            ticket_id=self.ticket.id,
            author_kind=author_kind,
            author_id=author_id,
            internal=internal,
            from_address=draft.from_address or from_address,
            to=draft.to,
            cc=draft.cc,
            # A write-back's message has no blind copies.
            bcc=draft.bcc if isinstance(draft, MessageIn) else [],
            subject=draft.subject or subject,
            body=draft.body,
            created_at=self.now,
        )
        self._new_messages.append(message)
        self._set("message_count", self.ticket.message_count + 1)
        if not internal:
            self._set("last_message_at", self.now)
            self._set("last_message_author", author_kind)
            self._set("last_message_id", message.id)
            self._context.last_message = message
            if author_kind == "customer":
                self._on_customer_message()
            elif author_kind == "agent":
                self._on_agent_reply(author_id)
        self._happenings.append(("message", message))
        return message

    def _on_customer_message(self) -> None:
        if self.ticket.first_customer_message_at is None:
            self._set("first_customer_message_at", self.now)
        self._set("last_customer_message_at", self.now)
        if self.ticket.status in _WAITING_ON_CUSTOMER:
            self._set("status", "open")
            self._set("status_changed_at", self.now)

    def _on_agent_reply(self, agent_id: uuid.UUID | None) -> None:
        if self.ticket.first_agent_reply_at is None:
            self._set("first_agent_reply_at", self.now)
        self._set("last_agent_reply_at", self.now)
        # Answering takes responsibility for an unassigned ticket.
        if self.ticket.agent_id is None and agent_id is not None:
            self._set("agent_id", agent_id)
            self._context.agent_availability = None
        if self.ticket.status in ("new", "open", "postponed", "resolved"):
            self._set("status", "answered")
            self._set("status_changed_at", self.now)

    def rate(self, rating: str, comment: str | None) -> Rating:
        self._ensure_editable()
        row = Rating(
            id=uuid.uuid4(),
            ticket_id=self.ticket.id,
            agent_id=self.ticket.agent_id,
            customer_id=self.ticket.customer_id,
            rating=rating,
            comment=comment,
            created_at=self.now,
        )
        self.session.add(row)
        self._orm_pending = True
        self._happenings.append(("rating", row))
        return row

    def delete(self) -> None:
        if self.ticket.deleted_at is not None:
            return
        self._set("status", "deleted")
        self._set("status_changed_at", self.now)
        self._set("deleted_at", self.now)
        self._happenings.append(("deleted", None))

    def restore(self) -> None:
        if self.ticket.deleted_at is None:
            return
        self._set("status", "open" if self.ticket.first_agent_reply_at else "new")
        self._set("status_changed_at", self.now)
        self._set("deleted_at", None)
        self._happenings.append(("restored", None))

    def mark_created(self) -> None:
        self._created = True

    # -- saving --------------------------------------------------------------------------

    @property
    def changed(self) -> bool:
        return bool(self._changes or self._happenings or self._created)

    async def save(self) -> list[EventBase]:
        """Write the ticket, history rows and outbox events for everything changed so far."""
        if not self.changed:
            return []
        assert not self._created, "a new ticket is written by save_new()"
        ticket = self.ticket
        columns = ("version", "updated_at", *self._changes)
        set_committed_value(ticket, "version", ticket.version + 1)
        set_committed_value(ticket, "updated_at", self.now)
        if self._orm_pending:
            await self.session.flush()
            self._orm_pending = False
        ctx = await self.store.load_context(ticket, self._context)
        events = change_events(
            self._event_base(), ticket_snapshot(ticket, ctx), self._changes, self._happenings
        )
        params: dict[str, Any] = {"t0_id": ticket.id}
        for name in columns:
            params["t0_" + name] = getattr(ticket, name)
        await self._write(columns, events, params)
        return events

    def prepare_new(self) -> list[EventBase]:
        """The event of a new ticket (made with ``mark_created``)."""
        assert self._created, "prepare_new is for tickets made with mark_created()"
        snapshot = ticket_snapshot(self.ticket, self._context)
        return created_events(self._event_base(), snapshot, self._context.last_message)

    async def save_new(self) -> list[EventBase]:
        """Write a new ticket with its first message, history and event in one statement."""
        events = self.prepare_new()
        params: dict[str, Any] = {}
        bind_row(params, "t0_", row_of(table_of(Ticket), self.ticket))
        await self._write("insert", events, params)
        return events

    async def _write(
        self, ticket: str | tuple[str, ...], events: list[EventBase], params: dict[str, Any]
    ) -> None:
        history = history_rows(self.ticket.id, self.origin, self.now, events)
        rows = outbox_rows(self.topics.tickets, events)
        messages = self._new_messages
        tag_names = list(self._tag_names)
        shape: WriteShape = (
            ticket,
            len(messages),
            tuple(history[0]) if history else (),
            len(history),
            len(rows),
            bool(tag_names),
        )
        await self.store.write(
            shape, write_params(params, messages, tag_names, history, rows, self.now)
        )
        self.events.extend(events)
        self._changes = {}
        self._happenings = []
        self._new_messages = []
        self._tag_names = {}

    @property
    def new_messages(self) -> list[Message]:
        return list(self._new_messages)

    @property
    def tag_names(self) -> list[str]:
        """The tag names the change uses, to be created with its write if new."""
        return list(self._tag_names)

    def _event_base(self) -> dict[str, Any]:
        return event_base(self.ticket.id, self.origin, self.now)


async def purge_ticket(
    store: EditorStore,
    ticket: Ticket,
    origin: Origin,
    now: datetime,
    topics: Topics,
    *,
    context: SnapshotContext | None = None,
) -> EventBase:
    """Remove a deleted (or spam) ticket for good; its history stays for audit."""
    if ticket.status not in ("deleted", "spam"):
        raise Conflict(
            f"ticket {ticket.code} is {ticket.status}; only deleted or spam tickets can be purged",
            code="invalid_transition",
        )
    ctx = await store.load_context(ticket, context or SnapshotContext())
    event = purged_event(event_base(ticket.id, origin, now), ticket_snapshot(ticket, ctx))
    (history,) = history_rows(ticket.id, origin, now, [event])
    (outbox,) = outbox_rows(topics.tickets, [event])
    await store.purge(ticket.id, history, outbox)
    return event


def _dedupe(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag.strip(), None)
    return [t for t in seen if t]
