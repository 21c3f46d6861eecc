"""Every change to a ticket goes through a ``TicketEditor``.

The editor locks the ticket row, applies changes with the rules of the help desk (a customer
message reopens a resolved ticket, a transfer to a department alone unassigns, a deleted
ticket cannot be edited…), and on ``save`` writes one history row per changed field and the
domain events to the outbox — all in the caller's transaction.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, Protocol

from helpdesk_events import (
    Change,
    EventBase,
    MessageAdded,
    RatingSnapshot,
    TicketCreated,
    TicketDeleted,
    TicketEventBase,
    TicketPurged,
    TicketRated,
    TicketRestored,
    TicketStatusChanged,
    TicketTagsChanged,
    TicketTransferred,
    TicketUpdated,
    Topics,
    add_to_outbox,
    outbox_rows,
)
from helpdesk_service.errors import Conflict, NotFound, Unprocessable
from sqlalchemy import (
    BindParameter,
    Table,
    TextClause,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ..db import detached
from ..models import (
    OUTBOX,
    Agent,
    AgentDepartment,
    Customer,
    CustomerGroupMember,
    CustomFieldDefinition,
    Department,
    HistoryEntry,
    Message,
    Rating,
    Tag,
    Ticket,
)
from ..origin import Origin
from .snapshot import SnapshotContext, load_context, message_snapshot, ticket_snapshot

# Which event type announces a change of which field (anything else: ticket.updated).
_CATEGORY: dict[str, type[TicketEventBase]] = {
    "status": TicketStatusChanged,
    "department_id": TicketTransferred,
    "agent_id": TicketTransferred,
    "tags": TicketTagsChanged,
}
_LIVE_STATUSES = {"chatting": "chat", "calling": "call"}
_WAITING_ON_CUSTOMER = ("answered", "resolved", "postponed")


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# The ticket row, locked, with everything its snapshot needs: one round trip.
_LOCKED_TICKET = (
    select(
        Ticket,
        Customer.email,
        func.array(
            select(CustomerGroupMember.group_id)
            .where(CustomerGroupMember.customer_id == Ticket.customer_id)
            .scalar_subquery()
        ),
        Agent.availability,
        Message,
    )
    .outerjoin(Customer, Customer.id == Ticket.customer_id)
    .outerjoin(Agent, Agent.id == Ticket.agent_id)
    .outerjoin(Message, Message.id == Ticket.last_message_id)
    .where(Ticket.id == bindparam("ticket_id"))
    .with_for_update(of=Ticket)
)


async def find_locked(
    session: AsyncSession, ticket_id: uuid.UUID
) -> tuple[Ticket, SnapshotContext] | None:
    """Lock the ticket's row and load what its snapshot needs beyond the row."""
    row = (await session.execute(_LOCKED_TICKET, {"ticket_id": ticket_id})).first()
    if row is None:
        return None
    ticket, email, group_ids, availability, last_message = row
    context = SnapshotContext(
        customer_email=email,
        customer_group_ids=list(group_ids or []),
        agent_availability=dict(availability or {}) if ticket.agent_id is not None else None,
        last_message=last_message,
    )
    return ticket, context


async def lock_ticket(
    session: AsyncSession, ticket_id: uuid.UUID
) -> tuple[Ticket, SnapshotContext]:
    found = await find_locked(session, ticket_id)
    if found is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return found


@dataclass(frozen=True)
class AgentRef:
    name: str
    active: bool
    availability: dict[str, str]


# What shape of write ``save`` needs: (ticket columns or "insert", messages, history columns,
# history rows, outbox rows). Each store turns it into its own cached statement.
WriteShape = tuple[str | tuple[str, ...] | None, int, tuple[str, ...], int, int]


class EditorStore(Protocol):
    """The reads and writes an editor needs, through the ORM session or a plain connection."""

    async def department_exists(self, department_id: uuid.UUID) -> bool: ...

    async def agent(self, agent_id: uuid.UUID) -> AgentRef | None: ...

    async def is_member(self, agent_id: uuid.UUID, department_id: uuid.UUID) -> bool: ...

    async def ensure_tags(self, names: list[str], now: datetime) -> None: ...

    async def load_context(self, ticket: Ticket, known: SnapshotContext) -> SnapshotContext: ...

    async def write(self, shape: WriteShape, params: dict[str, Any]) -> None: ...


class SessionStore:
    """The editor's reads and writes through the request's SQLAlchemy session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def department_exists(self, department_id: uuid.UUID) -> bool:
        return await self.session.get(Department, department_id) is not None

    async def agent(self, agent_id: uuid.UUID) -> AgentRef | None:
        agent = await self.session.get(Agent, agent_id)
        if agent is None:
            return None
        return AgentRef(agent.name, agent.active, dict(agent.availability or {}))

    async def is_member(self, agent_id: uuid.UUID, department_id: uuid.UUID) -> bool:
        return await _is_member(self.session, agent_id, department_id)

    async def ensure_tags(self, names: list[str], now: datetime) -> None:
        await _ensure_tags(self.session, names, now)

    async def load_context(self, ticket: Ticket, known: SnapshotContext) -> SnapshotContext:
        return await load_context(self.session, ticket, known)

    async def write(self, shape: WriteShape, params: dict[str, Any]) -> None:
        await self.session.execute(write_statement(*shape), params)


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
        """With ``store`` and no ``session``, only the changes the store supports (not
        messages by agents, ratings or custom fields) can be made; with neither, only what
        needs no database (a new ticket prepared for ``inbound``)."""
        if store is None and session is not None:
            store = SessionStore(session)
        self._store = store
        self._session = session
        self.ticket = ticket
        self.origin = origin
        self.now = now
        self.topics = topics
        self._changes: dict[str, Change] = {}
        self._primary: list[EventBase] = []
        self._pending_primary: list[tuple[str, dict[str, Any]]] = []
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
            self._changes[field] = Change(before=original, after=_jsonable(value))
            if original == _jsonable(value):
                del self._changes[field]
        else:
            self._changes[field] = Change(before=_jsonable(before), after=_jsonable(value))
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
        await self.store.ensure_tags(wanted, self.now)
        self._set("tags", wanted)

    async def add_tags(self, tags: Iterable[str]) -> None:
        await self.set_tags([*(self.ticket.tags or []), *tags])

    async def remove_tags(self, tags: Iterable[str]) -> None:
        drop = set(tags)
        await self.set_tags([t for t in self.ticket.tags or [] if t not in drop])

    async def set_custom_fields(self, values: dict[str, Any], *, replace: bool = False) -> None:
        self._ensure_editable()
        cleaned = await validate_custom_fields(self.session, values)
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
        *,
        author_kind: str,
        author_id: uuid.UUID | None,
        body: str,
        internal: bool = False,
        from_address: str | None = None,
        to: list[str] | None = None,
        cc: list[str] | None = None,
        bcc: list[str] | None = None,
        subject: str | None = None,
    ) -> Message:
        self._ensure_editable()
        if internal and author_kind == "customer":
            raise Unprocessable("internal: customers cannot write internal notes")
        if author_kind == "agent" and author_id is not None:
            # An agent's reply can make them responsible: it must be a real agent.
            await _require(self.session, Agent, author_id, "author_id", "agent")
        # Without a session (a fast lane), nothing needs the ORM's bookkeeping.
        message = (Message if self._session is not None else partial(detached, Message))(
            id=uuid.uuid4(),
            ticket_id=self.ticket.id,
            author_kind=author_kind,
            author_id=author_id,
            internal=internal,
            from_address=from_address,
            to=to or [],
            cc=cc or [],
            bcc=bcc or [],
            subject=subject,
            body=body,
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
        self._pending_primary.append(("message", {"message": message}))
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
        self._pending_primary.append(("rating", {"rating": row}))
        return row

    def delete(self) -> None:
        if self.ticket.deleted_at is not None:
            return
        self._set("status", "deleted")
        self._set("status_changed_at", self.now)
        self._set("deleted_at", self.now)
        self._pending_primary.append(("deleted", {}))

    def restore(self) -> None:
        if self.ticket.deleted_at is None:
            return
        self._set("status", "open" if self.ticket.first_agent_reply_at else "new")
        self._set("status_changed_at", self.now)
        self._set("deleted_at", None)
        self._pending_primary.append(("restored", {}))

    def mark_created(self) -> None:
        self._created = True

    # -- saving --------------------------------------------------------------------------

    @property
    def changed(self) -> bool:
        return bool(self._changes or self._pending_primary or self._created)

    async def save(self) -> list[EventBase]:
        """Write history rows and outbox events for everything changed so far."""
        if not self.changed:
            return []
        assert not self._created, "a new ticket is written by save_new()"
        ticket = self.ticket
        columns = tuple(self._changes)
        set_committed_value(ticket, "version", ticket.version + 1)
        set_committed_value(ticket, "updated_at", self.now)
        if self._orm_pending:
            await self.session.flush()
            self._orm_pending = False
        ctx = await self.store.load_context(ticket, self._context)
        events = self._build_events(ticket_snapshot(ticket, ctx))
        history = self._history_rows(events)
        rows = outbox_rows(self.topics.tickets, events)
        messages = self._new_messages
        shape: WriteShape = (
            ("version", "updated_at", *columns),
            len(messages),
            tuple(history[0]) if history else (),
            len(history),
            len(rows),
        )
        params: dict[str, Any] = {"t0_id": ticket.id}
        for name in ("version", "updated_at", *columns):
            params["t0_" + name] = getattr(ticket, name)
        await self.store.write(shape, _write_params(params, messages, history, rows))
        self.events.extend(events)
        self._changes = {}
        self._pending_primary = []
        self._new_messages = []
        return events

    @property
    def new_messages(self) -> list[Message]:
        return list(self._new_messages)

    def prepare_new(self) -> tuple[list[EventBase], list[dict[str, Any]]]:
        """The events and history rows of a new ticket, for whoever writes it."""
        assert self._created, "prepare_new is for tickets made with mark_created()"
        events = self._build_events(ticket_snapshot(self.ticket, self._context))
        return events, self._history_rows(events)

    async def save_new(self) -> list[EventBase]:
        """Write a new ticket with its first message, history and event in one statement.

        Creation is the hottest write: one round trip instead of an ORM flush per row."""
        ticket = self.ticket
        events, history = self.prepare_new()
        rows = outbox_rows(self.topics.tickets, events)
        shape: WriteShape = (
            "insert",
            len(self._new_messages),
            tuple(history[0]) if history else (),
            len(history),
            len(rows),
        )
        params: dict[str, Any] = {}
        _bind(params, "t0_", _row(_table(Ticket), ticket))
        await self.store.write(shape, _write_params(params, self._new_messages, history, rows))
        self.events.extend(events)
        self._changes = {}
        self._pending_primary = []
        return events

    def _base(self) -> dict[str, Any]:
        o = self.origin
        return {
            "occurred_at": self.now,
            "ticket_id": self.ticket.id,
            "actor": o.actor,
            "correlation_id": o.correlation_id,
            "causation_id": o.causation_id,
            "depth": o.depth,
        }

    def _build_events(self, snapshot: Any) -> list[EventBase]:
        base = self._base()
        if self._created:
            first = self._context.last_message
            return [
                TicketCreated(
                    **base,
                    ticket=snapshot,
                    message=message_snapshot(first) if first is not None else None,
                )
            ]
        events: list[EventBase] = []
        owned: set[str] = set()
        public = {f: c for f, c in self._changes.items() if f not in _INTERNAL_FIELDS}
        for kind, data in self._pending_primary:
            if kind == "message":
                events.append(
                    MessageAdded(
                        **base,
                        ticket=snapshot,
                        changes=public,
                        message=message_snapshot(data["message"]),
                    )
                )
            elif kind == "rating":
                r: Rating = data["rating"]
                events.append(
                    TicketRated(
                        **base,
                        ticket=snapshot,
                        changes=public,
                        rating=RatingSnapshot(
                            id=r.id,
                            ticket_id=r.ticket_id,
                            agent_id=r.agent_id,
                            customer_id=r.customer_id,
                            rating=r.rating,
                            comment=r.comment,
                            created_at=r.created_at,
                        ),
                    )
                )
            elif kind in ("deleted", "restored"):
                lifecycle = TicketDeleted if kind == "deleted" else TicketRestored
                # Its own fields only: other changes of the same batch get their own events
                # (and history rows), not a second mention here.
                mine = {f: c for f, c in public.items() if f in _LIFECYCLE_FIELDS}
                events.append(lifecycle(**base, ticket=snapshot, changes=mine))
                owned |= _LIFECYCLE_FIELDS
        by_category: dict[type[TicketEventBase], dict[str, Change]] = {}
        for field, change in self._changes.items():
            if field in owned or field in _INTERNAL_FIELDS:
                continue
            by_category.setdefault(_CATEGORY.get(field, TicketUpdated), {})[field] = change
        has_message = any(kind == "message" for kind, _ in self._pending_primary)
        for cls, changes in by_category.items():
            # Timestamps a message moved are news only inside its message.added event.
            if cls is TicketUpdated and has_message and set(changes) <= _MESSAGE_FIELDS:
                continue
            events.append(cls(**base, ticket=snapshot, changes=changes))
        return events

    def _history_rows(self, events: list[EventBase]) -> list[dict[str, Any]]:
        o = self.origin
        rows: list[dict[str, Any]] = []

        def row(action: str, event: EventBase, field: str | None, before: Any, after: Any) -> None:
            rows.append(
                {
                    "ticket_id": self.ticket.id,
                    "occurred_at": self.now,
                    "actor_kind": o.actor.kind,
                    "actor_id": o.actor.id,
                    "actor_name": o.actor.name,
                    "action": action,
                    "field": field,
                    "before": before,
                    "after": after,
                    "event_id": event.id,
                    "correlation_id": o.correlation_id,
                    "causation_id": o.causation_id,
                    "depth": o.depth,
                }
            )

        for event in events:
            action = event.type.split(".", 1)[1]
            if isinstance(event, TicketCreated):
                row("created", event, None, None, _created_summary(event.ticket))
            elif isinstance(event, MessageAdded):
                m = event.message
                row(
                    "note_added" if m.internal else "message_added",
                    event,
                    None,
                    None,
                    {
                        "message_id": str(m.id),
                        "author_kind": m.author_kind,
                        "author_id": _jsonable(m.author_id),
                    },
                )
            elif isinstance(event, TicketRated):
                row(
                    "rated",
                    event,
                    None,
                    None,
                    {"rating": event.rating.rating, "agent_id": _jsonable(event.rating.agent_id)},
                )
            if isinstance(event, TicketCreated | MessageAdded | TicketRated):
                continue
            for field, change in event.changes.items():
                if field in _INTERNAL_FIELDS:
                    continue
                row(action, event, field, change.before, change.after)
        return rows


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _row(table: Table, obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in table.columns}


def _write_params(
    params: dict[str, Any],
    messages: list[Message],
    history: list[dict[str, Any]],
    outbox: list[dict[str, Any]],
) -> dict[str, Any]:
    """Add the parameters of ``write_statement``'s message, history and outbox rows."""
    for i, message in enumerate(messages):
        _bind(params, f"m{i}_", _row(_table(Message), message))
    for i, entry in enumerate(history):
        _bind(params, f"h{i}_", entry)
    for i, row in enumerate(outbox):
        _bind(params, f"o{i}_", row)
    return params


def _bind(params: dict[str, Any], prefix: str, row: dict[str, Any]) -> None:
    for key, value in row.items():
        params[prefix + key] = value


# What a guarded write_statement ends with: whether the ticket row was written.
GUARDED_ANSWER = "SELECT EXISTS (SELECT FROM w0) AS written"


@functools.cache
def write_statement(
    ticket: str | tuple[str, ...] | None,
    messages: int,
    history_columns: tuple[str, ...],
    history: int,
    outbox: int,
    *,
    guarded: bool = False,
) -> TextClause:
    """One statement writing a ticket, its new messages, history rows and events.

    ``ticket`` is ``"insert"`` for a new ticket, the columns to update for a changed one
    (``:t0_id`` names the row), or None when the row itself did not change. Written as text
    and cached per shape because SQLAlchemy compiles multi-row INSERTs in CTEs anew on every
    execution, and one round trip instead of an ORM flush per row is most of the cost of a
    change.

    ``guarded`` (an update only): the row is updated only while it is still at version
    ``:g_version``, and the other rows written only if it was; every part is then a CTE
    (``w0`` the update) and the statement answers ``written``."""
    binds: list[BindParameter[Any]] = []
    ticket_table = _table(Ticket)
    guard = " WHERE EXISTS (SELECT FROM w0)" if guarded else ""

    def target(table: Table) -> str:
        return f"{table.schema}.{table.name}" if table.schema else table.name

    def values(table: Table, prefix: str, columns: list[str], count: int) -> str:
        tuples = []
        for i in range(count):
            names = [f"{prefix}{i}_{name}" for name in columns]
            binds.extend(
                bindparam(n, type_=table.c[c].type) for n, c in zip(names, columns, strict=True)
            )
            tuples.append("(" + ", ".join(f":{n}" for n in names) + ")")
        quoted = ", ".join(f'"{c}"' for c in columns)
        rows = f"VALUES {', '.join(tuples)}"
        if guarded:
            rows = f"SELECT * FROM ({rows}) AS v{guard}"
        return f"INSERT INTO {target(table)} ({quoted}) {rows}"

    parts: list[str] = []
    if ticket == "insert":
        assert not guarded, "a new ticket has no version to guard"
        parts.append(values(ticket_table, "t", [c.key for c in ticket_table.columns], 1))
    elif ticket:
        binds.extend(bindparam(f"t0_{c}", type_=ticket_table.c[c].type) for c in ticket)
        binds.append(bindparam("t0_id", type_=ticket_table.c.id.type))
        assignments = ", ".join(f'"{c}" = :t0_{c}' for c in ticket)
        where = "id = :t0_id"
        if guarded:
            binds.append(bindparam("g_version", type_=ticket_table.c.version.type))
            where += " AND version = :g_version RETURNING true"
        parts.append(f"UPDATE {target(ticket_table)} SET {assignments} WHERE {where}")
    else:
        assert not guarded, "a guarded write updates the ticket"
    if messages:
        message_table = _table(Message)
        columns = [c.key for c in message_table.columns]
        parts.append(values(message_table, "m", columns, messages))
    if history:
        parts.append(values(_table(HistoryEntry), "h", list(history_columns), history))
    if outbox:
        outbox_columns = ["shard", "topic", "key", "event_type", "payload"]
        parts.append(values(OUTBOX.outbox, "o", outbox_columns, outbox))
    if not parts:
        return text("SELECT 1")
    if guarded:
        ctes, last = parts, GUARDED_ANSWER
    else:
        *ctes, last = parts
    sql = last
    if ctes:
        sql = "WITH " + ", ".join(f"w{i} AS ({p})" for i, p in enumerate(ctes)) + " " + last
    return text(sql).bindparams(*binds)


# What deleting or restoring a ticket changes: announced by ticket.deleted / ticket.restored.
_LIFECYCLE_FIELDS = frozenset({"status", "status_changed_at", "deleted_at"})
# Bookkeeping columns whose changes are not news on their own.
_INTERNAL_FIELDS = frozenset({"status_changed_at", "last_message_id", "message_count"})
_MESSAGE_FIELDS = frozenset(
    {
        "last_message_at",
        "last_message_author",
        "first_customer_message_at",
        "last_customer_message_at",
        "first_agent_reply_at",
        "last_agent_reply_at",
    }
)


def _created_summary(snapshot: Any) -> dict[str, Any]:
    fields = (
        "status",
        "channel",
        "priority",
        "department_id",
        "agent_id",
        "customer_id",
        "sla_level",
        "tags",
        "subject",
    )
    return {f: _jsonable(getattr(snapshot, f)) for f in fields}


async def purge_ticket(
    session: AsyncSession,
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
    ctx = await load_context(session, ticket, context)
    snapshot = ticket_snapshot(ticket, ctx)
    event = TicketPurged(
        occurred_at=now,
        ticket_id=ticket.id,
        actor=origin.actor,
        correlation_id=origin.correlation_id,
        causation_id=origin.causation_id,
        depth=origin.depth,
        ticket=snapshot,
    )
    await session.execute(
        insert(HistoryEntry).values(
            ticket_id=ticket.id,
            occurred_at=now,
            actor_kind=origin.actor.kind,
            actor_id=origin.actor.id,
            actor_name=origin.actor.name,
            action="purged",
            field=None,
            before=None,
            after=None,
            event_id=event.id,
            correlation_id=origin.correlation_id,
            causation_id=origin.causation_id,
            depth=origin.depth,
        )
    )
    await session.execute(delete(Ticket).where(Ticket.id == ticket.id))
    await add_to_outbox(session, OUTBOX, topics.tickets, [event])
    return event


async def _require(session: AsyncSession, model: Any, id_: uuid.UUID, field: str, what: str) -> Any:
    row = await session.get(model, id_)
    if row is None:
        raise Unprocessable(f"{field}: no {what} with id {id_}", code="unknown_reference")
    return row


async def _is_member(session: AsyncSession, agent_id: uuid.UUID, department_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(AgentDepartment.agent_id).where(
            AgentDepartment.agent_id == agent_id, AgentDepartment.department_id == department_id
        )
    )
    return found is not None


def _dedupe(tags: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag.strip(), None)
    return [t for t in seen if t]


async def _ensure_tags(session: AsyncSession, names: list[str], now: datetime) -> None:
    """Tags are created on first use, so rules and agents can tag freely."""
    if names:
        await session.execute(
            pg_insert(Tag)
            .values([{"id": uuid.uuid4(), "name": n, "created_at": now} for n in names])
            .on_conflict_do_nothing(index_elements=[Tag.name])
        )


async def validate_custom_fields(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    """Check values against their definitions; None removes a value."""
    if not values:
        return {}
    defs = {
        d.key: d
        for d in (
            await session.execute(
                select(CustomFieldDefinition).where(CustomFieldDefinition.key.in_(list(values)))
            )
        ).scalars()
    }
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = defs.get(key)
        if definition is None:
            raise Unprocessable(
                f"custom_fields.{key}: no custom field with this key; define it first "
                "with POST /v1/custom-fields",
                code="unknown_reference",
            )
        cleaned[key] = None if value is None else _check_field_value(definition, value)
    return cleaned


_MAX_SAFE_INT = 2**53 - 1


def _check_field_value(definition: CustomFieldDefinition, value: Any) -> Any:
    where = f"custom_fields.{definition.key}"
    kind = definition.type
    if kind == "text" and isinstance(value, str) and len(value) <= 10_000:
        return value
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        # Finite, and an integer JSON readers everywhere (and our own encoder) can hold.
        if math.isfinite(value) and not (isinstance(value, int) and abs(value) > _MAX_SAFE_INT):
            return value
        raise Unprocessable(f"{where}: expected a finite number within ±{_MAX_SAFE_INT}")
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    if kind == "select" and isinstance(value, str):
        if value in definition.options:
            return value
        raise Unprocessable(f"{where}: {value!r} is not one of {definition.options}")
    expected = {
        "text": "a string",
        "number": "a number",
        "boolean": "true or false",
        "date": "a date like 2026-01-31",
        "select": "one of the options",
    }[kind]
    raise Unprocessable(f"{where}: expected {expected}, got {value!r}")
