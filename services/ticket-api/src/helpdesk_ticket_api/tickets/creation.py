"""Creating a ticket (``POST /v1/tickets``): every new ticket, one way, in one SQL statement.

Ticket creation is the hottest write. Whatever the request brings (a customer by e-mail or
by id or none, a department, an agent, tags, custom fields, a first message), the ticket is
worked out by ``TicketEditor`` on a plain asyncpg connection and written by **one**
statement: customer upsert, ticket number, ticket, first message, new tag names, history
row and outbox event together (a single statement is atomic, so it needs no BEGIN/COMMIT
round trips). What only the database knows when the statement runs (the customer's id and
groups, the ticket number) stands in the prepared rows as sentinels that the statement
replaces. Only what a request names beyond that is read first (a department or agent to
check, custom field definitions, a customer by id). With an ``Idempotency-Key`` the
statement runs in a transaction that claims the key first and stores the response after.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson
from helpdesk_events import Topics, outbox_rows
from helpdesk_service.errors import Conflict, Unprocessable
from sqlalchemy import Table

from .. import idempotency
from ..db import new_detached
from ..models import OUTBOX, HistoryEntry, Message, Ticket
from ..origin import Origin
from .changes import TicketEditor
from .custom_fields import validate_custom_fields
from .history import history_rows
from .schemas import TicketCreate
from .snapshot import SnapshotContext
from .statements import ConnectionStore, encoder, pg_type, table_name, table_of

CUSTOMER = uuid.UUID("00000000-0000-4000-8000-00000000c057")
GROUP = uuid.UUID("00000000-0000-4000-8000-000000009a0b")
CODE = "T-??????"

# Where the new ticket's customer comes from: found or created by reference (e-mail, name,
# phone), an existing customer by id, or none.
CustomerSource = Literal["reference", "id", "none"]


async def create_ticket(
    pool: asyncpg.Pool,
    data: TicketCreate,
    origin: Origin,
    now: datetime,
    topics: Topics,
    *,
    idempotency_key: tuple[str, str, str] | None = None,
) -> tuple[Any, bool]:
    """Create the ticket: (its snapshot as JSON-ready data, replayed). ``idempotency_key``:
    (principal id, key, request hash) to create it once per key."""
    async with pool.acquire() as conn:
        if idempotency_key is None:
            return await _create(conn, data, origin, now, topics), False
        principal_id, key, digest = idempotency_key
        async with conn.transaction():
            stored = await idempotency.claim(conn, principal_id, key, digest, now)
            if stored is not None:
                return stored.body, True
            snapshot = await _create(conn, data, origin, now, topics)
            await idempotency.store(conn, principal_id, key, 201, snapshot)
        return snapshot, False


async def _create(
    conn: asyncpg.Connection, data: TicketCreate, origin: Origin, now: datetime, topics: Topics
) -> Any:
    if data.status in ("chatting", "calling") and data.channel != _LIVE_CHANNEL[data.status]:
        raise Conflict(
            f"status: {data.status} does not fit a {data.channel} ticket", code="invalid_transition"
        )
    store = ConnectionStore(conn)
    context = SnapshotContext(customer_group_ids=[GROUP])
    source: CustomerSource
    head: list[Any]
    if data.customer_id is not None:
        source, customer_id = "id", data.customer_id
        found = await conn.fetchrow("SELECT email FROM tickets.customer WHERE id = $1", customer_id)
        if found is None:
            raise Unprocessable(
                f"customer_id: no customer with id {customer_id}", code="unknown_reference"
            )
        context.customer_email = found["email"]
        head = [customer_id]
    elif data.customer is not None:
        ref = data.customer
        source, customer_id = "reference", CUSTOMER
        context.customer_email = ref.email.lower() if ref.email else None
        head = [uuid.uuid4(), ref.name, context.customer_email, now]
    else:
        source, customer_id, head = "none", None, []
    custom_fields = await validate_custom_fields(store, data.custom_fields)
    ticket = _new_ticket(
        data,
        now,
        customer_id=customer_id,
        custom_fields={k: v for k, v in custom_fields.items() if v is not None},
    )
    editor = TicketEditor(None, ticket, origin, now, topics, context=context, store=store)
    editor.mark_created()
    if data.department_id is not None or data.agent_id is not None:
        await editor.transfer(
            department_id=data.department_id,
            agent_id=data.agent_id,
            department_given=data.department_id is not None,
            agent_given=data.agent_id is not None,
        )
    if data.tags:
        await editor.set_tags(data.tags)
    if data.message is not None:
        await editor.add_message(
            data.message,
            author_id=customer_id if data.message.author_kind == "customer" else None,
            from_address=context.customer_email,
            subject=data.subject,
        )
    events = editor.prepare_new()
    (outbox,) = outbox_rows(topics.tickets, events)
    (entry,) = history_rows(ticket.id, origin, now, events)
    messages = editor.new_messages
    tags = editor.tag_names
    customer_authored = tuple(m.author_id == CUSTOMER for m in messages)
    args: list[Any] = [*head]
    args += _values(table_of(Ticket), ticket, _ticket_from_db(source))
    for message, from_db in zip(messages, customer_authored, strict=True):
        args += _values(table_of(Message), message, _MESSAGE_FROM_DB if from_db else ())
    args += [encode(entry[c]) for c, encode in _HISTORY_ENCODERS]
    args += [outbox[c] for c in ("shard", "topic", "key", "event_type", "payload")]
    if source == "reference":
        assert data.customer is not None
        args.append(data.customer.phone)
    if tags:
        args += [tags, now]
    payload = await conn.fetchval(statement(source, customer_authored, bool(tags)), *args)
    return orjson.loads(payload)["ticket"]


_LIVE_CHANNEL = {"chatting": "chat", "calling": "call"}


def _new_ticket(
    data: TicketCreate,
    now: datetime,
    *,
    customer_id: uuid.UUID | None,
    custom_fields: dict[str, Any],
) -> Ticket:
    """A new ticket's row, before responsibility, tags and its first message are applied;
    its number and code are the statement's to draw. Columns not named here start at the
    model's defaults."""
    return new_detached(
        Ticket,
        **{field: getattr(data, field) for field in _AS_REQUESTED},
        id=uuid.uuid4(),
        code=CODE,
        customer_id=customer_id,
        tags=[],
        custom_fields=custom_fields,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )


# The request's fields a new ticket takes as they are (the customer, responsibility, tags
# and custom fields are worked out from it first).
_AS_REQUESTED = (
    "subject",
    "status",
    "channel",
    "priority",
    "sla_level",
    "referrer_url",
    "created_from_invitation",
)


# Columns the statement fills from what it found or drew, not from parameters.
def _ticket_from_db(source: CustomerSource) -> tuple[str, ...]:
    return ("number", "code", "customer_id") if source == "reference" else ("number", "code")


_FROM_DB = {
    "number": "v.number",
    "code": "v.code",
    "customer_id": "v.customer_id",
    "author_id": "v.customer_id",
}
_MESSAGE_FROM_DB = ("author_id",)
_HISTORY_COLUMNS = (
    "ticket_id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "field",
    "before",
    "after",
    "event_id",
    "correlation_id",
    "causation_id",
    "depth",
)
_HISTORY_TYPES = {c: pg_type(table_of(HistoryEntry).c[c].type) for c in _HISTORY_COLUMNS}
_HISTORY_ENCODERS = tuple((c, encoder(_HISTORY_TYPES[c])) for c in _HISTORY_COLUMNS)


def _values(table: Table, row: Any, from_db: tuple[str, ...]) -> list[Any]:
    # The rows are detached (``db.detached``): their values are their ``__dict__``, read
    # here without the ORM's attribute machinery (8 µs for a ticket's 28 columns, 1 µs so).
    values = vars(row)
    return [encode(values[key]) for key, encode in _parameters(table, from_db)]


@functools.cache
def _parameters(
    table: Table, from_db: tuple[str, ...]
) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """(column, encoder) of the columns passed as parameters, in statement order (the
    encoders looked up once, not once a value: a ticket and its message pass about 40)."""
    return tuple((c.key, encoder(pg_type(c.type))) for c in table.columns if c.key not in from_db)


_CUSTOMER_BY_SOURCE = {
    # $1..$4: customer id (if new), name, e-mail, now; the phone comes last.
    "reference": """c AS (
            INSERT INTO tickets.customer AS cu (id, name, email, phone, created_at, updated_at)
            VALUES ($1::uuid, $2::text, $3::text, ${phone}::text, $4::timestamptz,
                    $4::timestamptz)
            ON CONFLICT (email) DO UPDATE SET name = COALESCE(EXCLUDED.name, cu.name)
            RETURNING cu.id)""",
    "id": "c AS (SELECT $1::uuid AS id)",
    "none": "c AS (SELECT NULL::uuid AS id)",
}


@functools.cache
def statement(source: CustomerSource, customer_authored: tuple[bool, ...], tags: bool) -> str:
    """The statement writing a new ticket: its customer from ``source``, one message per
    item of ``customer_authored`` (whether it is the customer's, written by the sentinel
    id), and (``tags``) new tag names."""
    n = {"reference": 4, "id": 1, "none": 0}[source]

    def select_list(table: Table, from_db: tuple[str, ...]) -> tuple[str, str]:
        nonlocal n
        columns, values = [], []
        for c in table.columns:
            columns.append(f'"{c.key}"')
            if c.key in from_db:
                values.append(_FROM_DB[c.key])
            else:
                n += 1
                values.append(f"${n}::{pg_type(c.type)}")
        return ", ".join(columns), ", ".join(values)

    def filled(text: str) -> str:
        """``text`` with the customer sentinel replaced by the customer's id."""
        if source != "reference":
            return text
        return f"replace({text}, '{CUSTOMER}', v.customer_id::text)"

    ticket_columns, ticket_values = select_list(table_of(Ticket), _ticket_from_db(source))
    parts = [
        "{customer}",
        """v AS (
            SELECT c.id AS customer_id, s.number,
                   'T-' || CASE WHEN s.number < 1000000 THEN lpad(s.number::text, 6, '0')
                                ELSE s.number::text END AS code,
                   COALESCE((SELECT json_agg(g.group_id ORDER BY g.group_id)::text
                             FROM tickets.customer_group_member g
                             WHERE g.customer_id = c.id), '[]') AS group_ids
            FROM c, (SELECT nextval('tickets.ticket_number_seq') AS number) s)""",
        f"t AS (INSERT INTO {table_name(table_of(Ticket))} ({ticket_columns}) "
        f"SELECT {ticket_values} FROM v)",
    ]
    message_table = table_of(Message)
    for i, from_db in enumerate(customer_authored):
        columns, values = select_list(message_table, _MESSAGE_FROM_DB if from_db else ())
        parts.append(
            f"m{i} AS (INSERT INTO {table_name(message_table)} ({columns}) SELECT {values} FROM v)"
        )
    history_values = []
    for column in _HISTORY_COLUMNS:
        n += 1
        kind = _HISTORY_TYPES[column]
        cast = filled(f"${n}::text") + "::jsonb" if kind == "jsonb" else f"${n}::{kind}"
        history_values.append(cast)
    quoted = ", ".join(f'"{c}"' for c in _HISTORY_COLUMNS)
    parts.append(
        f"h AS (INSERT INTO {table_name(table_of(HistoryEntry))} ({quoted}) "
        f"SELECT {', '.join(history_values)} FROM v)"
    )
    shard, topic, key, event_type, payload = (f"${n + i}" for i in range(1, 6))
    n += 5
    if source == "reference":
        n += 1
        parts[0] = _CUSTOMER_BY_SOURCE[source].replace("${phone}", f"${n}")
    else:
        parts[0] = _CUSTOMER_BY_SOURCE[source]
    if tags:
        parts.append(
            "new_tags AS (INSERT INTO tickets.tag (id, name, created_at) "
            f"SELECT gen_random_uuid(), name, ${n + 2}::timestamptz "
            f"FROM unnest(${n + 1}::text[]) AS name ON CONFLICT (name) DO NOTHING)"
        )
    event_text = filled(f"convert_from({payload}::bytea, 'UTF8')")
    fill = (
        "convert_to(replace(replace("
        f"{event_text}, "
        f"'\"{CODE}\"', to_json(v.code)::text), "
        f"'[\"{GROUP}\"]', v.group_ids), 'UTF8')"
    )
    return (
        "WITH "
        + ",\n".join(parts)
        + f"\nINSERT INTO {table_name(OUTBOX.outbox)} (shard, topic, key, event_type, payload) "
        f"SELECT {shard}::smallint, {topic}::text, {key}::bytea, {event_type}::text, {fill} FROM v "
        "RETURNING payload"
    )
