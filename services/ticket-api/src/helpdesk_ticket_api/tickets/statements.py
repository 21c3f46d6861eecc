"""The SQL a ticket change is read and written with, and the two stores that run it.

``TicketEditor`` (changes.py) decides what changes; it reads what its rules need and writes
what it decided through an ``EditorStore``: ``SessionStore`` on the request's SQLAlchemy
session (the REST endpoints), ``ConnectionStore`` on a plain asyncpg connection (ticket
creation and services' write-backs, the hottest writes). Both run the same statements,
built here once per shape: a change is written in **one** statement (ticket row, new
messages, new tag names, history rows, outbox events).
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import orjson
from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    Boolean,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    TextClause,
    Uuid,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from .. import idempotency
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
    Ticket,
)
from .snapshot import SnapshotContext, load_context


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


def table_of(model: Any) -> Table:
    table: Table = model.__table__
    return table


def table_name(table: Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def encode_json(value: Any) -> str:
    """A jsonb parameter as asyncpg takes it (it has no codec for jsonb by default)."""
    return orjson.dumps(value).decode()


def _unchanged(value: Any) -> Any:
    return value


def encoder(kind: str) -> Callable[[Any], Any]:
    """How a Python value of a parameter cast to ``kind`` is handed to asyncpg."""
    return encode_json if kind == "jsonb" else _unchanged


# -- the one write of a change -----------------------------------------------------------

# What shape of write ``save`` needs: (ticket columns or "insert", messages, history columns,
# history rows, outbox rows, whether new tag names come with it). Each shape is one cached
# statement.
WriteShape = tuple[str | tuple[str, ...], int, tuple[str, ...], int, int, bool]

_OUTBOX_COLUMNS = ("shard", "topic", "key", "event_type", "payload")
_TAG_NAMES = "tag_names"
_TAGS_CREATED_AT = "tags_created_at"


@dataclass(frozen=True)
class WriteStatement:
    """One shape of write, in the two forms the stores run: SQLAlchemy's ``text`` with
    named parameters, and asyncpg's positional, typed ``$n::type`` with each parameter's
    name and encoder in order."""

    named: TextClause
    positional: str
    parameters: tuple[tuple[str, Callable[[Any], Any]], ...]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        return [encode(params[name]) for name, encode in self.parameters]


def _write_sql(
    shape: WriteShape, placeholder: Callable[[str, Any], str], *, storing_response: bool
) -> str:
    """The statement's text; ``placeholder(name, column type)`` writes each parameter."""
    ticket, messages, history_columns, history, outbox, tags = shape
    ticket_table = table_of(Ticket)

    def values(table: Table, prefix: str, columns: list[str] | tuple[str, ...], count: int) -> str:
        rows = []
        for i in range(count):
            row = [placeholder(f"{prefix}{i}_{c}", table.c[c].type) for c in columns]
            rows.append("(" + ", ".join(row) + ")")
        quoted = ", ".join(f'"{c}"' for c in columns)
        return f"INSERT INTO {table_name(table)} ({quoted}) VALUES {', '.join(rows)}"

    parts: list[str] = []
    if ticket == "insert":
        parts.append(values(ticket_table, "t", [c.key for c in ticket_table.columns], 1))
    else:
        assignments = ", ".join(
            f'"{c}" = {placeholder(f"t0_{c}", ticket_table.c[c].type)}' for c in ticket
        )
        where = placeholder("t0_id", ticket_table.c.id.type)
        parts.append(f"UPDATE {table_name(ticket_table)} SET {assignments} WHERE id = {where}")
    if storing_response:
        parts.append(
            idempotency.store_sql(
                placeholder(_KEY_PRINCIPAL, String()),
                placeholder(_KEY, String()),
                placeholder(_KEY_STATUS, Integer()),
                placeholder(_KEY_RESPONSE, JSONB()),
            )
        )
    if messages:
        message_table = table_of(Message)
        parts.append(values(message_table, "m", [c.key for c in message_table.columns], messages))
    if tags:
        # Tags are created on first use, so rules and agents can tag freely.
        names = placeholder(_TAG_NAMES, ARRAY(Text))
        created_at = placeholder(_TAGS_CREATED_AT, DateTime(timezone=True))
        parts.append(
            "INSERT INTO tickets.tag (id, name, created_at) "
            f"SELECT gen_random_uuid(), n, {created_at} FROM unnest({names}) AS n "
            "ON CONFLICT (name) DO NOTHING"
        )
    if history:
        parts.append(values(table_of(HistoryEntry), "h", history_columns, history))
    if outbox:
        parts.append(values(OUTBOX.outbox, "o", _OUTBOX_COLUMNS, outbox))
    *ctes, last = parts
    if not ctes:
        return last
    return "WITH " + ", ".join(f"w{i} AS ({p})" for i, p in enumerate(ctes)) + " " + last


@functools.cache
def write_statement(shape: WriteShape, *, storing_response: bool = False) -> WriteStatement:
    """The one statement writing a change of this shape: the ticket row (``"insert"`` for a
    new ticket, the columns to update for a changed one, ``t0_id`` naming the row), its new
    messages, new tag names, history rows and events. Written as text and cached per shape
    because SQLAlchemy compiles multi-row INSERTs in CTEs anew on every execution, and one
    round trip instead of an ORM flush per row is most of the cost of a change.

    ``storing_response``: with it, the response to replay under the request's
    Idempotency-Key (``response_params``), one round trip less for a write-back."""
    binds: list[BindParameter[Any]] = []

    def named(name: str, column_type: Any) -> str:
        binds.append(bindparam(name, type_=column_type))
        return f":{name}"

    order: list[tuple[str, Callable[[Any], Any]]] = []

    def positional(name: str, column_type: Any) -> str:
        kind = pg_type(column_type)
        order.append((name, encoder(kind)))
        return f"${len(order)}::{kind}"

    return WriteStatement(
        named=text(_write_sql(shape, named, storing_response=storing_response)).bindparams(*binds),
        positional=_write_sql(shape, positional, storing_response=storing_response),
        parameters=tuple(order),
    )


_KEY_PRINCIPAL, _KEY, _KEY_STATUS, _KEY_RESPONSE = "k_principal_id", "k_key", "k_status", "k_body"


@dataclass(frozen=True)
class KeyResponse:
    """The response to store under a request's Idempotency-Key."""

    principal_id: str
    key: str
    status_code: int
    body: Any


def response_params(response: KeyResponse) -> dict[str, Any]:
    return {
        _KEY_PRINCIPAL: response.principal_id,
        _KEY: response.key,
        _KEY_STATUS: response.status_code,
        _KEY_RESPONSE: response.body,
    }


def write_params(
    params: dict[str, Any],
    messages: list[Message],
    tag_names: list[str],
    history: list[dict[str, Any]],
    outbox: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """Add the parameters of ``write_statement``'s message, tag, history and outbox rows."""
    for i, message in enumerate(messages):
        bind_row(params, f"m{i}_", row_of(table_of(Message), message))
    if tag_names:
        params[_TAG_NAMES] = tag_names
        params[_TAGS_CREATED_AT] = now
    for i, entry in enumerate(history):
        bind_row(params, f"h{i}_", entry)
    for i, row in enumerate(outbox):
        bind_row(params, f"o{i}_", row)
    return params


def row_of(table: Table, obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in table.columns}


def bind_row(params: dict[str, Any], prefix: str, row: dict[str, Any]) -> None:
    for key, value in row.items():
        params[prefix + key] = value


_HISTORY_TYPES = {c.key: pg_type(c.type) for c in table_of(HistoryEntry).columns}
_PURGE_HISTORY = tuple(c for c in _HISTORY_TYPES if c != "id")


@functools.cache
def _purge_sql(history_columns: tuple[str, ...]) -> str:
    n = len(history_columns)
    history_values = ", ".join(
        f"${i}::{_HISTORY_TYPES[c]}" for i, c in enumerate(history_columns, start=1)
    )
    outbox_values = ", ".join(
        f"${n + i}::{kind}"
        for i, kind in enumerate(("smallint", "text", "bytea", "text", "bytea"), start=1)
    )
    quoted = ", ".join(f'"{c}"' for c in history_columns)
    return (
        f"WITH h AS (INSERT INTO {table_name(table_of(HistoryEntry))} ({quoted}) "
        f"VALUES ({history_values})), "
        f"o AS (INSERT INTO {table_name(OUTBOX.outbox)} ({', '.join(_OUTBOX_COLUMNS)}) "
        f"VALUES ({outbox_values})) "
        f"DELETE FROM {table_name(table_of(Ticket))} WHERE id = ${n + 6}::uuid"
    )


def purge_statement(
    ticket_id: uuid.UUID, history: dict[str, Any], outbox: dict[str, Any]
) -> tuple[str, list[Any]]:
    """Remove a ticket, recording its history row and event, in one statement."""
    columns = tuple(history)
    arguments = [encoder(_HISTORY_TYPES[c])(history[c]) for c in columns]
    arguments += [outbox[c] for c in _OUTBOX_COLUMNS]
    return _purge_sql(columns), [*arguments, ticket_id]


# -- reading a ticket for a change -------------------------------------------------------

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


def _columns(model: Any) -> list[tuple[str, str]]:
    return [(c.key, pg_type(c.type)) for c in table_of(model).columns]


_TICKET_COLUMNS = _columns(Ticket)
_MESSAGE_COLUMNS = _columns(Message)
# A round of write-backs' first statement (one write-back per ticket): claim their
# Idempotency-Keys ($3 principal id, $4 keys, $5 request hashes, $6 time), and read their
# tickets ($1) locked in id order, as ``_LOCKED_TICKET`` does, with which of the departments
# they name ($2) exist and the agents they name ($7: each one's name, state, availability
# and departments, as JSON), so that their transfers and messages need no lookup of their
# own. A row per ticket found (one of NULLs when none is): the keys ``claimed``, the
# departments, the agents, and the ticket's columns.
CLAIM_AND_LOCK_TICKETS = f"""
    WITH claim AS ({
    idempotency.claim_sql(
        "SELECT $3::varchar, k.key, k.hash, $6::timestamptz "
        "FROM unnest($4::varchar[], $5::varchar[]) AS k (key, hash)"
    )
})
    SELECT ARRAY(SELECT key FROM claim) AS claimed,
           ARRAY(SELECT d.id FROM tickets.department d WHERE d.id = ANY($2::uuid[]))
               AS departments,
           (SELECT json_agg(json_build_array(
                       a.id, a.name, a.active, a.availability,
                       ARRAY(SELECT ad.department_id FROM tickets.agent_department ad
                             WHERE ad.agent_id = a.id)))
            FROM tickets.agent a WHERE a.id = ANY($7::uuid[]))::text AS agents,
           found.*
    FROM (SELECT) AS one
    LEFT JOIN (
        SELECT {", ".join(f't."{c}"' for c, _ in _TICKET_COLUMNS)},
               cu.email AS customer_email,
               ARRAY(SELECT g.group_id FROM tickets.customer_group_member g
                     WHERE g.customer_id = t.customer_id) AS customer_group_ids,
               a.availability::text AS agent_availability,
               {", ".join(f'm."{c}" AS "m_{c}"' for c, _ in _MESSAGE_COLUMNS)}
        FROM tickets.ticket t
        LEFT JOIN tickets.customer cu ON cu.id = t.customer_id
        LEFT JOIN tickets.agent a ON a.id = t.agent_id
        LEFT JOIN tickets.message m ON m.id = t.last_message_id
        WHERE t.id = ANY($1::uuid[])
        ORDER BY t.id
        FOR UPDATE OF t
    ) AS found ON true
"""


def _decode(value: Any, kind: str) -> Any:
    if kind == "jsonb" and isinstance(value, str):
        return orjson.loads(value)
    return value


def named_agents_of(
    row: asyncpg.Record, named: Iterable[uuid.UUID]
) -> dict[uuid.UUID, KnownAgent | None]:
    """The agents ``named`` (None: no such agent) from a row of ``CLAIM_AND_LOCK_TICKETS``."""
    found: dict[uuid.UUID, KnownAgent | None] = dict.fromkeys(named)
    for agent_id, name, active, availability, department_ids in orjson.loads(row["agents"] or "[]"):
        found[uuid.UUID(agent_id)] = KnownAgent(
            AgentRef(name, active, availability or {}),
            frozenset(uuid.UUID(d) for d in department_ids),
        )
    return found


def locked_ticket_of(row: asyncpg.Record) -> tuple[Ticket, SnapshotContext]:
    """The ticket and its snapshot context from a row of ``CLAIM_AND_LOCK_TICKETS``."""
    ticket = detached(Ticket, **{c: _decode(row[c], kind) for c, kind in _TICKET_COLUMNS})
    message = None
    if row["m_id"] is not None:
        message = detached(Message, **{c: row[f"m_{c}"] for c, _ in _MESSAGE_COLUMNS})
    availability = row["agent_availability"]
    context = SnapshotContext(
        customer_email=row["customer_email"],
        customer_group_ids=list(row["customer_group_ids"] or []),
        agent_availability=orjson.loads(availability) if availability is not None else None,
        last_message=message,
    )
    return ticket, context


# -- the stores --------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRef:
    name: str
    active: bool
    availability: dict[str, str]


@dataclass(frozen=True)
class KnownAgent:
    """An agent read beforehand, with the departments they are in."""

    ref: AgentRef
    department_ids: frozenset[uuid.UUID]


class EditorStore(Protocol):
    """The reads and writes an editor needs, through the ORM session or a plain connection."""

    async def department_exists(self, department_id: uuid.UUID) -> bool: ...

    async def agent(self, agent_id: uuid.UUID) -> AgentRef | None: ...

    async def is_member(self, agent_id: uuid.UUID, department_id: uuid.UUID) -> bool: ...

    async def custom_fields(self, keys: list[str]) -> dict[str, CustomFieldDefinition]: ...

    async def load_context(self, ticket: Ticket, known: SnapshotContext) -> SnapshotContext: ...

    async def write(self, shape: WriteShape, params: dict[str, Any]) -> None: ...

    async def purge(
        self, ticket_id: uuid.UUID, history: dict[str, Any], outbox: dict[str, Any]
    ) -> None: ...


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
        found = await self.session.scalar(
            select(AgentDepartment.agent_id).where(
                AgentDepartment.agent_id == agent_id, AgentDepartment.department_id == department_id
            )
        )
        return found is not None

    async def custom_fields(self, keys: list[str]) -> dict[str, CustomFieldDefinition]:
        found = await self.session.execute(
            select(CustomFieldDefinition).where(CustomFieldDefinition.key.in_(keys))
        )
        return {d.key: d for d in found.scalars()}

    async def load_context(self, ticket: Ticket, known: SnapshotContext) -> SnapshotContext:
        return await load_context(self.session, ticket, known)

    async def write(self, shape: WriteShape, params: dict[str, Any]) -> None:
        await self.session.execute(write_statement(shape).named, params)

    async def purge(
        self, ticket_id: uuid.UUID, history: dict[str, Any], outbox: dict[str, Any]
    ) -> None:
        sql, arguments = purge_statement(ticket_id, history, outbox)
        connection = await self.session.connection()
        await connection.exec_driver_sql(sql, tuple(arguments))


class ConnectionStore:
    """The editor's reads and writes on a plain asyncpg connection."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        departments: dict[uuid.UUID, bool] | None = None,
        agents: dict[uuid.UUID, KnownAgent | None] | None = None,
        deferred: bool = False,
    ) -> None:
        """``departments`` and ``agents``: already looked up (id -> exists; id -> the agent
        or None: no such agent). The editor's write is kept until ``flush``, which sends it
        with the response to store, in one round trip; ``deferred``: not even then, its
        statements (``writes``) are the caller's to send, with others'."""
        self.conn = conn
        self._departments = departments or {}
        self._agents = agents or {}
        self._kept: tuple[WriteShape, dict[str, Any]] | None = None
        self._deferred = deferred
        self.writes: list[Write] = []

    async def department_exists(self, department_id: uuid.UUID) -> bool:
        known = self._departments.get(department_id)
        if known is not None:
            return known
        found = await self.conn.fetchval(
            "SELECT true FROM tickets.department WHERE id = $1", department_id
        )
        return found is not None

    async def agent(self, agent_id: uuid.UUID) -> AgentRef | None:
        if agent_id in self._agents:
            known = self._agents[agent_id]
            return None if known is None else known.ref
        row = await self.conn.fetchrow(
            "SELECT name, active, availability::text AS availability "
            "FROM tickets.agent WHERE id = $1",
            agent_id,
        )
        if row is None:
            return None
        return AgentRef(row["name"], row["active"], orjson.loads(row["availability"] or "{}"))

    async def is_member(self, agent_id: uuid.UUID, department_id: uuid.UUID) -> bool:
        known = self._agents.get(agent_id)
        if known is not None:
            return department_id in known.department_ids
        found = await self.conn.fetchval(
            "SELECT true FROM tickets.agent_department WHERE agent_id = $1 AND department_id = $2",
            agent_id,
            department_id,
        )
        return found is not None

    async def custom_fields(self, keys: list[str]) -> dict[str, CustomFieldDefinition]:
        rows = await self.conn.fetch(
            "SELECT id, key, label, type, options::text AS options, created_at "
            "FROM tickets.custom_field WHERE key = ANY($1::text[])",
            keys,
        )
        return {
            r["key"]: detached(
                CustomFieldDefinition, **{**dict(r), "options": orjson.loads(r["options"])}
            )
            for r in rows
        }

    async def load_context(self, ticket: Ticket, known: SnapshotContext) -> SnapshotContext:
        ctx = known
        if ticket.customer_id is not None and ctx.customer_group_ids is None:
            row = await self.conn.fetchrow(
                "SELECT c.email, ARRAY(SELECT g.group_id FROM tickets.customer_group_member g "
                "WHERE g.customer_id = c.id) AS group_ids FROM tickets.customer c WHERE c.id = $1",
                ticket.customer_id,
            )
            ctx.customer_email = row["email"] if row else None
            ctx.customer_group_ids = list(row["group_ids"]) if row else []
        if ticket.agent_id is not None and ctx.agent_availability is None:
            agent = await self.agent(ticket.agent_id)
            ctx.agent_availability = agent.availability if agent else {}
        # The last message is the one read with the ticket, or the one the editor added.
        return ctx

    async def write(self, shape: WriteShape, params: dict[str, Any]) -> None:
        await self.flush()
        self._kept = (shape, params)

    async def flush(self, response: KeyResponse | None = None) -> None:
        """Send the kept write (if any) and (``response``) the response to store under the
        request's Idempotency-Key, in one statement."""
        if self._kept is None:
            if response is not None:
                r = response
                await self._send(
                    Write(
                        *idempotency.store_statement(r.principal_id, r.key, r.status_code, r.body)
                    )
                )
            return
        shape, params = self._kept
        self._kept = None
        statement = write_statement(shape, storing_response=response is not None)
        if response is not None:
            params = params | response_params(response)
        await self._send(Write(statement.positional, statement.arguments(params)))

    async def purge(
        self, ticket_id: uuid.UUID, history: dict[str, Any], outbox: dict[str, Any]
    ) -> None:
        await self.flush()
        await self._send(Write(*purge_statement(ticket_id, history, outbox)))

    async def _send(self, write: Write) -> None:
        if self._deferred:
            self.writes.append(write)
        else:
            await self.conn.execute(write.sql, *write.arguments)


@dataclass(frozen=True)
class Write:
    """A statement writing a change, with its arguments."""

    sql: str
    arguments: list[Any]


async def send_writes(conn: asyncpg.Connection, writes: list[Write]) -> None:
    """Send ``writes`` in their order, a run of the same statement in one round trip (the
    write-backs of a round, mostly of one shape)."""
    for sql, same in itertools.groupby(writes, key=lambda write: write.sql):
        run = [write.arguments for write in same]
        if len(run) == 1:
            await conn.execute(sql, *run[0])
        else:
            await conn.executemany(sql, run)
