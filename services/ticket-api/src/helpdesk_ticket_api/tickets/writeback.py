"""Services' write-backs (``POST /v1/tickets/{id}/actions``) on a plain asyncpg connection.

Rules write back on almost every event, so this is the hottest path after ticket creation.
The commonest actions (transfer, status, priority, SLA level, subject, tags, spam, delete,
restore) run here with the same ``TicketEditor`` as every other change, but its reads and
its one write go straight to asyncpg: the same statements as through SQLAlchemy, without
its per-statement cost. A batch with any other action (a message, custom fields, purge)
takes the general path in the router.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from helpdesk_events import Topics
from helpdesk_service.errors import Conflict, NotFound, Unprocessable
from sqlalchemy import Table

from .. import idempotency
from ..models import Message, Ticket
from ..origin import Origin
from . import schemas as s
from .editor import AgentRef, TicketEditor, WriteShape, write_statement
from .inbound import pg_type
from .snapshot import SnapshotContext, ticket_snapshot

SIMPLE_ACTIONS = (
    s.TransferAction,
    s.SetStatusAction,
    s.ResolveAction,
    s.SetPriorityAction,
    s.SetSlaLevelAction,
    s.SetSubjectAction,
    s.AddTagsAction,
    s.RemoveTagsAction,
    s.MarkSpamAction,
    s.MarkNotSpamAction,
    s.DeleteAction,
    s.RestoreAction,
)


def eligible(batch: s.ActionBatch) -> bool:
    return all(isinstance(action, SIMPLE_ACTIONS) for action in batch.actions)


Apply = Callable[[TicketEditor, Any], Awaitable[None]]


async def apply_batch(
    pool: asyncpg.Pool,
    ticket_id: uuid.UUID,
    batch: s.ActionBatch,
    *,
    principal_id: str,
    key: str,
    digest: str,
    origin: Origin,
    now: datetime,
    topics: Topics,
    apply: Apply,
) -> tuple[int, Any, bool]:
    """Apply the batch once per key in one transaction: (status, body, replayed)."""
    async with pool.acquire() as conn, conn.transaction():
        stored = await idempotency.claim_on(conn, principal_id, key, digest, now)
        if stored is not None:
            return stored.status_code, stored.body, True
        ticket, context = await _lock(conn, ticket_id)
        check_version(ticket, batch.expected_version)
        editor = TicketEditor(
            None, ticket, origin, now, topics, context=context, store=ConnectionStore(conn)
        )
        for index, action in enumerate(batch.actions):
            await apply_numbered(apply, editor, index, action)
        await editor.save()
        if editor.events:
            snapshot = editor.events[-1].ticket  # type: ignore[attr-defined]
        else:
            snapshot = await _snapshot(conn, ticket, context)
        body = {
            "ticket": snapshot.model_dump(mode="json"),
            "purged": False,
            "event_ids": [str(e.id) for e in editor.events],
        }
        await idempotency.store_on(conn, principal_id, key, 200, body)
    return 200, body, False


def check_version(ticket: Ticket, expected: int | None) -> None:
    """A write-back made for an older version of the ticket is refused (409)."""
    if expected is not None and ticket.version != expected:
        raise Conflict(
            f"ticket is at version {ticket.version}, not {expected}", code="version_mismatch"
        )


async def apply_numbered(apply: Apply, editor: TicketEditor, index: int, action: Any) -> None:
    """Apply one action of a batch; a refusal names it (``actions[1] (transfer): …``)."""
    try:
        await apply(editor, action)
    except (Unprocessable, Conflict) as exc:
        exc.message = f"actions[{index}] ({action.type}): {exc.message}"
        raise


async def _snapshot(conn: asyncpg.Connection, ticket: Ticket, context: SnapshotContext) -> Any:
    return ticket_snapshot(ticket, await ConnectionStore(conn).load_context(ticket, context))


def _columns(model: Any) -> list[tuple[str, str]]:
    table: Table = model.__table__
    return [(c.key, pg_type(c.type)) for c in table.columns]


_TICKET_COLUMNS = _columns(Ticket)
_MESSAGE_COLUMNS = _columns(Message)
_LOCK = f"""
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
    WHERE t.id = $1
    FOR UPDATE OF t
"""


def _decode(value: Any, pg_type: str) -> Any:
    if pg_type == "jsonb" and isinstance(value, str):
        return orjson.loads(value)
    return value


async def _lock(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> tuple[Ticket, SnapshotContext]:
    row = await conn.fetchrow(_LOCK, ticket_id)
    if row is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    ticket = Ticket(**{c: _decode(row[c], kind) for c, kind in _TICKET_COLUMNS})
    message = None
    if row["m_id"] is not None:
        message = Message(**{c: row[f"m_{c}"] for c, _ in _MESSAGE_COLUMNS})
    availability = row["agent_availability"]
    context = SnapshotContext(
        customer_email=row["customer_email"],
        customer_group_ids=list(row["customer_group_ids"] or []),
        agent_availability=orjson.loads(availability) if availability is not None else None,
        last_message=message,
    )
    return ticket, context


class ConnectionStore:
    """The editor's reads and writes on a plain asyncpg connection (in its transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def department_exists(self, department_id: uuid.UUID) -> bool:
        found = await self.conn.fetchval(
            "SELECT true FROM tickets.department WHERE id = $1", department_id
        )
        return found is not None

    async def agent(self, agent_id: uuid.UUID) -> AgentRef | None:
        row = await self.conn.fetchrow(
            "SELECT name, active, availability::text AS availability "
            "FROM tickets.agent WHERE id = $1",
            agent_id,
        )
        if row is None:
            return None
        return AgentRef(row["name"], row["active"], orjson.loads(row["availability"] or "{}"))

    async def is_member(self, agent_id: uuid.UUID, department_id: uuid.UUID) -> bool:
        found = await self.conn.fetchval(
            "SELECT true FROM tickets.agent_department WHERE agent_id = $1 AND department_id = $2",
            agent_id,
            department_id,
        )
        return found is not None

    async def ensure_tags(self, names: list[str], now: datetime) -> None:
        if names:
            await self.conn.execute(
                "INSERT INTO tickets.tag (id, name, created_at) "
                "SELECT u.id, u.name, $3 FROM unnest($1::uuid[], $2::text[]) AS u(id, name) "
                "ON CONFLICT (name) DO NOTHING",
                [uuid.uuid4() for _ in names],
                names,
                now,
            )

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
        # The simple actions never add a message: the last message is the one locked with
        # the ticket.
        return ctx

    async def write(self, shape: WriteShape, params: dict[str, Any]) -> None:
        sql, names = _raw_statement(*shape)
        await self.conn.execute(sql, *(encode(params[n]) for n, encode in names))


_BIND = re.compile(r"(?<![:\w]):(\w+)")


@functools.cache
def _raw_statement(*shape: Any) -> tuple[str, list[tuple[str, Callable[[Any], Any]]]]:
    """The editor's write statement with asyncpg's positional, typed parameters."""
    clause = write_statement(*shape)
    kinds = {name: pg_type(bind.type) for name, bind in clause._bindparams.items()}
    order: list[tuple[str, Callable[[Any], Any]]] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        kind = kinds[name]
        order.append((name, _json if kind == "jsonb" else _same))
        return f"${len(order)}::{kind}"

    return _BIND.sub(number, clause.text), order


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _same(value: Any) -> Any:
    return value
