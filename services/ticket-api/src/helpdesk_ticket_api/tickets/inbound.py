"""The commonest way a ticket arrives — a customer, known by e-mail, writes in — written in
a single SQL statement on a plain asyncpg connection.

One statement is atomic by itself, so it needs no BEGIN/COMMIT round trips. What only the
database knows when the statement runs (the customer's id and groups, the ticket number)
stands in the prepared rows as sentinels that the statement replaces; the event and the
history row are otherwise built by the same ``TicketEditor`` code as every other change.
Anything else (a department, an agent, tags, custom fields, an Idempotency-Key) takes the
general path in ``service.create_ticket``.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from helpdesk_events import Topics, outbox_rows
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import OUTBOX, HistoryEntry, Message, Ticket
from ..origin import Origin
from .changes import TicketEditor
from .history import history_rows
from .schemas import TicketCreate
from .service import new_ticket
from .snapshot import SnapshotContext

CUSTOMER = uuid.UUID("00000000-0000-4000-8000-00000000c057")
GROUP = uuid.UUID("00000000-0000-4000-8000-000000009a0b")
CODE = "T-??????"


def eligible(data: TicketCreate, idempotency_key: str | None) -> bool:
    message = data.message
    return (
        idempotency_key is None
        and data.department_id is None
        and data.agent_id is None
        and not data.tags
        and not data.custom_fields
        and data.customer_id is None
        and data.customer is not None
        and data.customer.email is not None
        and data.status not in ("chatting", "calling")
        and (
            message is None
            or (
                message.author_kind == "customer"
                and message.author_id is None
                and not message.internal
            )
        )
    )


async def create_inbound(
    pool: asyncpg.Pool,
    session: AsyncSession | None,
    data: TicketCreate,
    origin: Origin,
    now: datetime,
    topics: Topics,
) -> dict[str, Any]:
    """Create the ticket; returns its snapshot as JSON-ready data."""
    assert data.customer is not None
    assert data.customer.email is not None
    email = data.customer.email.lower()
    ticket = new_ticket(
        data,
        now,
        number=0,
        code=CODE,
        customer_id=CUSTOMER,
        custom_fields={},
        for_session=False,
    )
    context = SnapshotContext(customer_email=email, customer_group_ids=[GROUP])
    editor = TicketEditor(session, ticket, origin, now, topics, context=context)
    editor.mark_created()
    if data.message is not None:
        m = data.message
        await editor.add_message(
            author_kind="customer",
            author_id=CUSTOMER,
            body=m.body,
            from_address=m.from_address or email,
            to=m.to,
            cc=m.cc,
            bcc=m.bcc,
            subject=m.subject or data.subject,
        )
    events = editor.prepare_new()
    history = history_rows(ticket.id, origin, now, events)
    (outbox,) = outbox_rows(topics.tickets, events)
    (entry,) = history
    messages = editor.new_messages
    args: list[Any] = [uuid.uuid4(), data.customer.name, email, now]
    args += _values(_table(Ticket), ticket, _TICKET_FROM_DB)
    for message in messages:
        args += _values(_table(Message), message, _MESSAGE_FROM_DB)
    args += [_encode(entry[c], _HISTORY_TYPES[c]) for c in _HISTORY_COLUMNS]
    args += [outbox[c] for c in ("shard", "topic", "key", "event_type", "payload")]
    async with pool.acquire() as conn:
        payload = await conn.fetchval(_statement(len(messages)), *args)
    snapshot: dict[str, Any] = orjson.loads(payload)["ticket"]
    return snapshot


# Columns the statement fills from what it found or drew, not from parameters.
_TICKET_FROM_DB = {"number": "v.number", "code": "v.code", "customer_id": "v.customer_id"}
_MESSAGE_FROM_DB = {"author_id": "v.customer_id"}
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


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def pg_type(column_type: Any) -> str:
    """The PostgreSQL type to cast an asyncpg parameter of this column type to."""
    for sa_type, name in (
        (Uuid, "uuid"),
        (Boolean, "boolean"),
        (DateTime, "timestamptz"),
        (BigInteger, "bigint"),
        (SmallInteger, "smallint"),
        (Integer, "integer"),
        (JSONB, "jsonb"),
        (LargeBinary, "bytea"),
        (ARRAY, "text[]"),
    ):
        if isinstance(column_type, sa_type):
            return name
    return "text"


_HISTORY_TYPES = {c: pg_type(_table(HistoryEntry).c[c].type) for c in _HISTORY_COLUMNS}


def _encode(value: Any, pg_type: str) -> Any:
    if pg_type == "jsonb":
        return orjson.dumps(value).decode()
    return value


def _values(table: Table, row: Any, from_db: dict[str, str]) -> list[Any]:
    return [_encode(getattr(row, key), kind) for key, kind in _parameters(table, tuple(from_db))]


@functools.cache
def _parameters(table: Table, from_db: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(column, PostgreSQL type) of the columns passed as parameters, in statement order."""
    return tuple((c.key, pg_type(c.type)) for c in table.columns if c.key not in from_db)


@functools.cache
def _statement(messages: int) -> str:
    n = 4  # $1..$4: customer id (if new), name, e-mail, now

    def select_list(table: Table, from_db: dict[str, str]) -> tuple[str, str]:
        nonlocal n
        columns, values = [], []
        for c in table.columns:
            columns.append(f'"{c.key}"')
            if c.key in from_db:
                values.append(from_db[c.key])
            else:
                n += 1
                values.append(f"${n}::{pg_type(c.type)}")
        return ", ".join(columns), ", ".join(values)

    def name(table: Table) -> str:
        return f"{table.schema}.{table.name}"

    ticket_columns, ticket_values = select_list(_table(Ticket), _TICKET_FROM_DB)
    parts = [
        """c AS (
            INSERT INTO tickets.customer AS cu (id, name, email, phone, created_at, updated_at)
            VALUES ($1::uuid, $2::text, $3::text, NULL, $4::timestamptz, $4::timestamptz)
            ON CONFLICT (email) DO UPDATE SET name = COALESCE(EXCLUDED.name, cu.name)
            RETURNING cu.id)""",
        """v AS (
            SELECT c.id AS customer_id, s.number,
                   'T-' || CASE WHEN s.number < 1000000 THEN lpad(s.number::text, 6, '0')
                                ELSE s.number::text END AS code,
                   COALESCE((SELECT json_agg(g.group_id ORDER BY g.group_id)::text
                             FROM tickets.customer_group_member g
                             WHERE g.customer_id = c.id), '[]') AS group_ids
            FROM c, (SELECT nextval('tickets.ticket_number_seq') AS number) s)""",
        f"t AS (INSERT INTO {name(_table(Ticket))} ({ticket_columns}) "
        f"SELECT {ticket_values} FROM v)",
    ]
    message_table = _table(Message)
    for i in range(messages):
        columns, values = select_list(message_table, _MESSAGE_FROM_DB)
        parts.append(
            f"m{i} AS (INSERT INTO {name(message_table)} ({columns}) SELECT {values} FROM v)"
        )
    history_values = []
    for column in _HISTORY_COLUMNS:
        n += 1
        kind = _HISTORY_TYPES[column]
        history_values.append(
            f"replace(${n}::text, '{CUSTOMER}', v.customer_id::text)::jsonb"
            if kind == "jsonb"
            else f"${n}::{kind}"
        )
    quoted = ", ".join(f'"{c}"' for c in _HISTORY_COLUMNS)
    parts.append(
        f"h AS (INSERT INTO {name(_table(HistoryEntry))} ({quoted}) "
        f"SELECT {', '.join(history_values)} FROM v)"
    )
    shard, topic, key, event_type, payload = (f"${n + i}" for i in range(1, 6))
    fill = (
        f"convert_to(replace(replace(replace(convert_from({payload}::bytea, 'UTF8'), "
        f"'{CUSTOMER}', v.customer_id::text), '\"{CODE}\"', to_json(v.code)::text), "
        f"'[\"{GROUP}\"]', v.group_ids), 'UTF8')"
    )
    return (
        "WITH "
        + ",\n".join(parts)
        + f"\nINSERT INTO {name(OUTBOX.outbox)} (shard, topic, key, event_type, payload) "
        f"SELECT {shard}::smallint, {topic}::text, {key}::bytea, {event_type}::text, {fill} FROM v "
        "RETURNING payload"
    )
