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
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from helpdesk_events import Actor, Topics
from helpdesk_service.errors import Conflict, NotFound, Unprocessable
from sqlalchemy import Table

from .. import idempotency
from ..db import detached
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


def origin_of_batch(batch: s.ActionBatch) -> Origin:
    """Who the history names for a write-back: the actor the service acts for."""
    return Origin(
        actor=Actor(kind=batch.actor.kind, id=batch.actor.id, name=batch.actor.name),
        correlation_id=batch.correlation_id or uuid.uuid4(),
        causation_id=batch.causation_id,
        depth=batch.depth,
    )


def identity(ticket_id: uuid.UUID, batch: s.ActionBatch) -> dict[str, Any]:
    """What an Idempotency-Key is bound to: the same key with another batch is refused."""
    return {"ticket_id": str(ticket_id), **batch.model_dump(mode="json")}


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
) -> tuple[int, Any, bool]:
    """Apply the batch once per key in one transaction: (status, body, replayed).

    Four round trips: BEGIN; the key's claim, the ticket's lock and the departments the
    batch names, in one statement; the editor's write with the stored response; COMMIT."""
    idempotency.check_key(key)
    departments = [
        action.department_id
        for action in batch.actions
        if isinstance(action, s.TransferAction) and action.department_id is not None
    ]
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            _CLAIM_AND_LOCK, ticket_id, principal_id, key, digest, now, departments
        )
        if not row["claimed"]:
            stored = await idempotency.stored_on(conn, principal_id, key, digest)
            return stored.status_code, stored.body, True
        if row["id"] is None:
            raise NotFound(f"no ticket with id {ticket_id}")
        ticket, context = _locked(row)
        check_version(ticket, batch.expected_version)
        store = ConnectionStore(
            conn,
            departments=dict.fromkeys(departments, False) | dict.fromkeys(row["departments"], True),
            defer_write=True,
        )
        editor = TicketEditor(None, ticket, origin, now, topics, context=context, store=store)
        for index, action in enumerate(batch.actions):
            await apply_numbered(editor, index, action)
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
        await store.write_deferred(storing=(principal_id, key, 200, body))
    return 200, body, False


def check_version(ticket: Ticket, expected: int | None) -> None:
    """A write-back made for an older version of the ticket is refused (409)."""
    if expected is not None and ticket.version != expected:
        raise Conflict(
            f"ticket is at version {ticket.version}, not {expected}", code="version_mismatch"
        )


async def apply_numbered(editor: TicketEditor, index: int, action: Any) -> None:
    """Apply one action of a batch; a refusal names it (``actions[1] (transfer): …``)."""
    try:
        await apply_action(editor, action)
    except (Unprocessable, Conflict) as exc:
        exc.message = f"actions[{index}] ({action.type}): {exc.message}"
        raise


async def apply_action(editor: TicketEditor, action: Any) -> None:
    """Apply one write-back action (any kind; ``eligible`` says which run here)."""
    match action:
        case s.TransferAction():
            given = action.model_fields_set
            await editor.transfer(
                department_id=action.department_id,
                agent_id=action.agent_id,
                department_given="department_id" in given,
                agent_given="agent_id" in given,
            )
        case s.SetStatusAction():
            editor.set_status(action.status)
        case s.ResolveAction():
            editor.set_status("resolved")
        case s.SetPriorityAction():
            editor.set_priority(action.priority)
        case s.SetSlaLevelAction():
            editor.set_sla_level(action.sla_level)
        case s.SetSubjectAction():
            editor.set_subject(action.subject)
        case s.AddTagsAction():
            await editor.add_tags(action.tags)
        case s.RemoveTagsAction():
            await editor.remove_tags(action.tags)
        case s.SetCustomFieldsAction():
            await editor.set_custom_fields(action.values)
        case s.MarkSpamAction():
            editor.mark_spam()
        case s.MarkNotSpamAction():
            editor.mark_not_spam()
        case s.DeleteAction():
            editor.delete()
        case s.RestoreAction():
            editor.restore()
        case s.AddMessageAction():
            await editor.add_message(
                author_kind=action.author_kind,
                author_id=action.author_id,
                body=action.body,
                internal=action.internal,
                from_address=action.from_address,
                to=action.to,
                cc=action.cc,
                subject=action.subject,
            )
        case _:
            raise Unprocessable(f"unknown action {action!r}")


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
# The write-back's first statement: claim the Idempotency-Key, lock the ticket (a row of
# NULLs when there is none), and look up the departments its transfers name.
_CLAIM_AND_LOCK = f"""
    WITH claim AS ({
    idempotency.claim_sql("$2::varchar", "$3::varchar", "$4::varchar", "$5::timestamptz")
}),
    locked AS ({_LOCK})
    SELECT EXISTS (SELECT FROM claim) AS claimed,
           ARRAY(SELECT d.id FROM tickets.department d WHERE d.id = ANY($6::uuid[]))
               AS departments,
           locked.*
    FROM (SELECT) AS one LEFT JOIN locked ON true
"""


def _decode(value: Any, pg_type: str) -> Any:
    if pg_type == "jsonb" and isinstance(value, str):
        return orjson.loads(value)
    return value


def _locked(row: asyncpg.Record) -> tuple[Ticket, SnapshotContext]:
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


class ConnectionStore:
    """The editor's reads and writes on a plain asyncpg connection (in its transaction)."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        departments: dict[uuid.UUID, bool] | None = None,
        defer_write: bool = False,
    ) -> None:
        """``departments``: already looked up in this transaction (id -> exists).
        ``defer_write``: keep the editor's write for ``write_deferred``, which sends it
        with more."""
        self.conn = conn
        self._departments = departments or {}
        self._deferring = defer_write
        self._deferred: tuple[WriteShape, dict[str, Any]] | None = None

    async def write_deferred(self, *, storing: tuple[str, str, int, Any]) -> None:
        """Send the kept write (if any) together with the Idempotency-Key's response
        (principal id, key, status, body), in one statement."""
        stored = (*storing[:3], _json(storing[3]))
        if self._deferred is None:
            await self.conn.execute(_STORE, *stored)
            return
        shape, params = self._deferred
        self._deferred = None
        sql, names = _raw_statement(*shape, storing=True)
        await self.conn.execute(sql, *(encode(params[n]) for n, encode in names), *stored)

    async def department_exists(self, department_id: uuid.UUID) -> bool:
        known = self._departments.get(department_id)
        if known is not None:
            return known
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
        if self._deferring:
            assert self._deferred is None, "one write per transaction"
            self._deferred = (shape, params)
            return
        sql, names = _raw_statement(*shape)
        await self.conn.execute(sql, *(encode(params[n]) for n, encode in names))


_BIND = re.compile(r"(?<![:\w]):(\w+)")
_STORE = idempotency.store_sql("$1::varchar", "$2::varchar", "$3::integer", "$4::jsonb")


@functools.cache
def _raw_statement(
    *shape: Any, storing: bool = False
) -> tuple[str, list[tuple[str, Callable[[Any], Any]]]]:
    """The editor's write statement with asyncpg's positional, typed parameters;
    ``storing``: with the Idempotency-Key's response (four more parameters) in front."""
    clause = write_statement(*shape)
    kinds = {name: pg_type(bind.type) for name, bind in clause._bindparams.items()}
    order: list[tuple[str, Callable[[Any], Any]]] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        kind = kinds[name]
        order.append((name, _json if kind == "jsonb" else _same))
        return f"${len(order)}::{kind}"

    sql = _BIND.sub(number, clause.text)
    if storing:
        n = len(order)
        store = idempotency.store_sql(
            f"${n + 1}::varchar", f"${n + 2}::varchar", f"${n + 3}::integer", f"${n + 4}::jsonb"
        )
        # A data-modifying WITH query runs whether or not the statement reads it.
        if sql.startswith("WITH "):
            sql = f"WITH store AS ({store}), {sql.removeprefix('WITH ')}"
        else:
            sql = f"WITH store AS ({store}) {sql}"
    return sql, order


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _same(value: Any) -> Any:
    return value
