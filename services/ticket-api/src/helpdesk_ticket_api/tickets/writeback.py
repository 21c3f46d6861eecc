"""Services' write-backs (``POST /v1/tickets/{id}/actions``) on a plain asyncpg connection.

Rules write back on almost every event, so this is the hottest path after ticket creation.
The commonest actions (transfer, status, priority, SLA level, subject, tags, spam, delete,
restore) run here with the same ``TicketEditor`` as every other change, but its reads and
its one write go straight to asyncpg: the same statements as through SQLAlchemy, without
its per-statement cost. A batch with any other action (a message, custom fields, purge)
takes the general path in the router.

Two statements, no transaction around them (optimistic): the first reads the response
stored under the ``Idempotency-Key`` (a replay ends there), the ticket and the departments
the batch names; the editor works out the change; the second writes it — the ticket row
only while it is still at the version read, and with it the history, the events, new tag
names and the key with its response, all or nothing. Had the ticket moved on meanwhile,
the batch is worked out again from the new version; after a few such rounds the ticket is
read under a row lock (a transaction), so a busy ticket cannot starve a write-back.
"""

from __future__ import annotations

import contextlib
import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
from .editor import GUARDED_ANSWER, AgentRef, TicketEditor, WriteShape, write_statement
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


# Optimistic rounds before a write-back reads the ticket under a row lock instead.
_OPTIMISTIC_ROUNDS = 3
# Rounds in all: a locked round can only fail if a duplicate stored its response under the
# same key meanwhile, and the round after it then replays that response.
_ROUNDS = _OPTIMISTIC_ROUNDS + 2


@dataclass(frozen=True)
class _WriteBack:
    """One write-back request, as every round needs it."""

    ticket_id: uuid.UUID
    batch: s.ActionBatch
    departments: list[uuid.UUID]  # the ones its transfers name
    principal_id: str
    key: str
    digest: str
    origin: Origin
    now: datetime
    topics: Topics


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
    """Apply the batch once per key: (status, body, replayed). See the module's docstring."""
    idempotency.check_key(key)
    departments = [
        action.department_id
        for action in batch.actions
        if isinstance(action, s.TransferAction) and action.department_id is not None
    ]
    request = _WriteBack(
        ticket_id, batch, departments, principal_id, key, digest, origin, now, topics
    )
    async with pool.acquire() as conn:
        for round_ in range(_ROUNDS):
            locking = round_ >= _OPTIMISTIC_ROUNDS
            # A locked round whose write failed on purpose (the key taken meanwhile) leaves
            # its transaction aborted: PostgreSQL answers the COMMIT with a rollback.
            async with conn.transaction() if locking else contextlib.nullcontext():
                answer = await _round(conn, _READ_LOCKED if locking else _READ, request)
            if answer is not None:
                return answer
    raise RuntimeError(f"write-back to ticket {ticket_id} not done in {_ROUNDS} rounds")


async def _round(
    conn: asyncpg.Connection, read: str, r: _WriteBack
) -> tuple[int, Any, bool] | None:
    """Read, work out, write: the answer, or None if the ticket or the key moved on."""
    row = await conn.fetchrow(read, r.ticket_id, r.principal_id, r.key, r.departments)
    if row["k_request_hash"] is not None:
        response = row["k_response"]
        stored = idempotency.replay(
            row["k_request_hash"],
            row["k_status_code"],
            orjson.loads(response) if response is not None else None,
            r.digest,
        )
        return stored.status_code, stored.body, True
    if row["id"] is None:
        raise NotFound(f"no ticket with id {r.ticket_id}")
    ticket, context = _locked(row)
    check_version(ticket, r.batch.expected_version)
    version = ticket.version
    store = ConnectionStore(
        conn,
        departments=dict.fromkeys(r.departments, False) | dict.fromkeys(row["departments"], True),
    )
    editor = TicketEditor(None, ticket, r.origin, r.now, r.topics, context=context, store=store)
    for index, action in enumerate(r.batch.actions):
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
    done = await store.write_deferred(
        r.ticket_id, version, recording=(r.principal_id, r.key, r.digest, r.now, 200, body)
    )
    return (200, body, False) if done else None


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
_TICKET = f"""
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
"""


def _read(lock: str) -> str:
    """A round's first statement: the response stored under the key (if any), the ticket
    (a row of NULLs when there is none) and which of the departments the batch names exist."""
    return f"""
    SELECT k.request_hash AS k_request_hash, k.status_code AS k_status_code,
           k.response::text AS k_response,
           ARRAY(SELECT d.id FROM tickets.department d WHERE d.id = ANY($4::uuid[]))
               AS departments,
           found.*
    FROM (SELECT) AS one
    LEFT JOIN tickets.idempotency_key k ON k.principal_id = $2::varchar AND k.key = $3::varchar
    LEFT JOIN ({_TICKET} {lock}) AS found ON true
"""


_READ = _read("")
_READ_LOCKED = _read("FOR UPDATE OF t")


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
    """The editor's reads and writes on a plain asyncpg connection."""

    def __init__(
        self, conn: asyncpg.Connection, *, departments: dict[uuid.UUID, bool] | None = None
    ) -> None:
        """``departments``: already looked up (id -> exists). The editor's write and the tag
        names it needs are kept for ``write_deferred``, which sends them with more."""
        self.conn = conn
        self._departments = departments or {}
        self._deferred: tuple[WriteShape, dict[str, Any]] | None = None
        self._tags: dict[str, None] = {}

    async def write_deferred(
        self,
        ticket_id: uuid.UUID,
        version: int,
        *,
        recording: tuple[str, str, str, datetime, int, Any],
    ) -> bool:
        """Send the kept write (if any), the tag names it needs and the Idempotency-Key
        with its response — (principal id, key, request hash, time, status, body) — in one
        statement, applied only while the ticket is still at ``version``. False, and
        nothing written, if it no longer was or the key was taken meanwhile."""
        principal_id, key, digest, now, status, body = recording
        tags = list(self._tags)
        tail: list[Any] = [ticket_id, version, principal_id, key, digest, now, status, _json(body)]
        if tags:
            tail += [[uuid.uuid4() for _ in tags], tags]
        try:
            if self._deferred is None:
                done: bool = await self.conn.fetchval(_recorded(bool(tags)), *tail)
                return done
            shape, params = self._deferred
            self._deferred = None
            sql, names = _guarded_statement(*shape, tags=bool(tags))
            return bool(
                await self.conn.fetchval(sql, *(encode(params[n]) for n, encode in names), *tail)
            )
        except asyncpg.InvalidTextRepresentationError as exc:
            if _KEY_TAKEN not in str(exc):
                raise
            return False  # everything rolled back with the statement

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
        self._tags.update(dict.fromkeys(names))

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
        assert self._deferred is None, "one write per batch"
        self._deferred = (shape, params)


_BIND = re.compile(r"(?<![:\w]):(\w+)")
# Raised (as an integer cast of this text, which fails) by a statement that changed the
# ticket but found its Idempotency-Key taken meanwhile, so that none of it stays.
_KEY_TAKEN = "idempotency key taken meanwhile"


def _recording_tail(n: int, guard: str, *, tags: bool) -> str:
    """The CTEs every write-back statement ends with, after its own ``$1``..``$n``: new
    tag names and the key with its response, both only if ``guard`` (a condition) holds.
    Parameters: ticket id, version, principal id, key, request hash, time, status, response
    body, then (``tags``) tag ids and names."""
    p = [f"${n + i}" for i in range(1, 11)]
    record = idempotency.record_sql(
        f"SELECT {p[2]}::varchar, {p[3]}::varchar, {p[4]}::varchar, {p[5]}::timestamptz, "
        f"{p[6]}::integer, {p[7]}::jsonb WHERE {guard}"
    )
    ctes = f"stored AS ({record})"
    if tags:
        ctes = (
            "new_tags AS (INSERT INTO tickets.tag (id, name, created_at) "
            f"SELECT u.id, u.name, {p[5]}::timestamptz "
            f"FROM unnest({p[8]}::uuid[], {p[9]}::text[]) AS u(id, name) WHERE {guard} "
            f"ON CONFLICT (name) DO NOTHING), {ctes}"
        )
    return ctes


@functools.cache
def _recorded(tags: bool) -> str:
    """A batch that changed nothing: its key and response (and tag names), only while the
    ticket is still at the version the answer shows."""
    current = "EXISTS (SELECT FROM tickets.ticket WHERE id = $1::uuid AND version = $2::integer)"
    return f"WITH {_recording_tail(0, current, tags=tags)} SELECT EXISTS (SELECT FROM stored)"


@functools.cache
def _guarded_statement(
    *shape: Any, tags: bool = False
) -> tuple[str, list[tuple[str, Callable[[Any], Any]]]]:
    """The editor's write (``write_statement``, guarded by the version read) with asyncpg's
    positional, typed parameters, followed by the recording tail; it answers whether it
    wrote, and fails with ``_KEY_TAKEN`` if it would have written without the key."""
    clause = write_statement(*shape, guarded=True)
    kinds = {name: pg_type(bind.type) for name, bind in clause._bindparams.items()}
    order: list[tuple[str, Callable[[Any], Any]]] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ("t0_id", "g_version"):
            return f"$__{name}__"  # the tail's ticket id and version, numbered below
        kind = kinds[name]
        order.append((name, _json if kind == "jsonb" else _same))
        return f"${len(order)}::{kind}"

    sql = _BIND.sub(number, clause.text)
    n = len(order)
    sql = sql.replace("$__t0_id__", f"${n + 1}::uuid")
    sql = sql.replace("$__g_version__", f"${n + 2}::integer")
    head = sql.removesuffix(f" {GUARDED_ANSWER}")
    assert head != sql, sql
    tail = _recording_tail(n, "EXISTS (SELECT FROM w0)", tags=tags)
    return (
        f"{head}, {tail} {GUARDED_ANSWER}, "
        "(CASE WHEN EXISTS (SELECT FROM w0) AND NOT EXISTS (SELECT FROM stored) "
        f"THEN '{_KEY_TAKEN}' END)::integer AS refused",
        order,
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _same(value: Any) -> Any:
    return value
