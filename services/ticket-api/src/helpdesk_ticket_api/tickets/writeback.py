"""Services' write-backs: one (``POST /v1/tickets/{id}/actions``) or several at once
(``POST /v1/tickets/actions``), every batch of actions one way.

Rules write back on almost every event, so this is the hottest path after ticket creation.
It runs on a plain asyncpg connection (the same ``TicketEditor`` as every other change, its
reads and its one write through ``ConnectionStore``). The write-backs go in rounds of one
per ticket (the n-th to a ticket in the n-th round), each round in ticket id order:

    one statement per round: claim the round's Idempotency-Keys (a duplicate in flight
        holds its key: wait for it, then replay), read its tickets FOR UPDATE in id order
        with their snapshot context, which of the departments they name exist and the
        agents they name (with their departments)
    per write-back: the editor's checks and changes, in Python, then one statement: ticket
        row, messages, tag names, history, outbox, and the response stored under the key
        (a purge: its own statement, then the response); in a round of several, sent
        once all are decided, a run of one statement (the same shape) in one round trip

A single write-back is its own transaction. Several share one transaction; locking tickets
in id order, two requests cannot deadlock; one commit for all. A refused write-back changes
nothing and gives up the key its round claimed, so a retry runs for real; the others stand.
Its writes were not sent yet: no savepoint is needed unless the database refuses a
statement, which loses the transaction; then the request runs again with each write-back
writing at once inside its own SAVEPOINT, a refused one rolling back to it. The row lock
queues concurrent write-backs to one ticket: a busy ticket cannot starve one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from helpdesk_events import Actor, Topics
from helpdesk_service.errors import (
    ApiError,
    Conflict,
    NotFound,
    Unprocessable,
    api_error_body,
    database_refusal,
)

from .. import idempotency
from ..models import Ticket
from ..origin import Origin
from . import schemas as s
from .changes import TicketEditor, purge_ticket
from .snapshot import ticket_snapshot
from .statements import (
    CLAIM_AND_LOCK_TICKETS,
    ConnectionStore,
    KeyResponse,
    KnownAgent,
    Write,
    locked_ticket_of,
    named_agents_of,
    send_writes,
)


@dataclass(frozen=True)
class Outcome:
    """What the single endpoint answers for a write-back: status, body, replayed or not."""

    status: int
    body: Any
    replayed: bool


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


def request_digest(ticket_id: uuid.UUID, batch: s.ActionBatch) -> str:
    """What the key stores the request as: the same whether it came alone or with others,
    so a retry may come either way."""
    return idempotency.request_hash(f"/v1/tickets/{ticket_id}/actions", identity(ticket_id, batch))


async def apply_write_backs(
    pool: asyncpg.Pool,
    write_backs: Sequence[s.WriteBack],
    *,
    principal_id: str,
    now: datetime,
    topics: Topics,
) -> list[Outcome]:
    """Apply each write-back once per key: their outcomes, in the order given. See the
    module's docstring."""
    async with pool.acquire() as conn:
        if len(write_backs) == 1:
            # Alone: its own transaction is its savepoint.
            try:
                idempotency.check_key(write_backs[0].idempotency_key)
                async with conn.transaction():
                    (claim,) = await _claim_round(conn, write_backs, principal_id, now)
                    store = ConnectionStore(
                        conn, departments=claim.departments, agents=claim.agents
                    )
                    return [await _apply_write_back(store, claim, principal_id, now, topics)]
            except (ApiError, asyncpg.PostgresError) as exc:
                return [_refusal(exc)]
        outcomes: dict[int, Outcome] = {}
        valid: list[int] = []
        for index, write_back in enumerate(write_backs):
            try:
                idempotency.check_key(write_back.idempotency_key)
            except ApiError as exc:
                outcomes[index] = _refusal(exc)
            else:
                valid.append(index)
        try:
            async with conn.transaction():
                outcomes |= await _apply_rounds(
                    conn, write_backs, valid, principal_id, now, topics, savepoints=False
                )
        except _SavepointsNeeded:
            # The database refused a statement: the transaction is lost, the others' work
            # with it. Again, each write-back in a savepoint of its own.
            async with conn.transaction():
                outcomes |= await _apply_rounds(
                    conn, write_backs, valid, principal_id, now, topics, savepoints=True
                )
    return [outcomes[index] for index in range(len(write_backs))]


class _SavepointsNeeded(Exception):
    """The database refused a statement outside a savepoint: the transaction is lost."""


async def _apply_rounds(
    conn: asyncpg.Connection,
    write_backs: Sequence[s.WriteBack],
    valid: list[int],
    principal_id: str,
    now: datetime,
    topics: Topics,
    *,
    savepoints: bool,
) -> dict[int, Outcome]:
    """The outcomes of the write-backs at ``valid`` (keys checked), applied in rounds in the
    caller's transaction.

    Without ``savepoints``, a round's writes are sent together once all its write-backs are
    decided (a run of one statement in one round trip), so a refused write-back has written
    nothing: its key is unclaimed and its writes dropped, and the others go on. Only a
    statement the database refuses loses the transaction (raises ``_SavepointsNeeded``).
    With ``savepoints``, each write-back writes at once inside its own, and a refused one
    rolls back to it."""
    outcomes: dict[int, Outcome] = {}
    if savepoints:
        # One savepoint, renewed after each write-back applied (one round trip: a simple
        # query may hold two statements) and still there after a rollback to it.
        await conn.execute("SAVEPOINT write_back")
    for round_ in _rounds(write_backs, valid):
        claims = await _claim_round(conn, [write_backs[i] for i in round_], principal_id, now)
        if savepoints:
            # The round's claims and locks stand before the savepoint: a write-back
            # refused in it rolls back its own work alone, not the keys of the others.
            await conn.execute("RELEASE SAVEPOINT write_back; SAVEPOINT write_back")
        writes: list[Write] = []
        for index, claim in zip(round_, claims, strict=True):
            store = ConnectionStore(
                conn,
                departments=claim.departments,
                agents=claim.agents,
                deferred=not savepoints,
            )
            try:
                outcomes[index] = await _apply_write_back(store, claim, principal_id, now, topics)
            except (ApiError, asyncpg.PostgresError) as exc:
                if isinstance(exc, asyncpg.PostgresError) and not savepoints:
                    raise _SavepointsNeeded from exc
                outcomes[index] = _refusal(exc)
                if savepoints:
                    await conn.execute("ROLLBACK TO SAVEPOINT write_back")
                if claim.claimed:
                    # The round claimed it (before the savepoint): unclaim it, so that a
                    # retry runs for real.
                    await idempotency.unclaim(conn, principal_id, claim.write_back.idempotency_key)
            else:
                writes += store.writes
                if savepoints:
                    await conn.execute("RELEASE SAVEPOINT write_back; SAVEPOINT write_back")
        try:
            await send_writes(conn, writes)
        except asyncpg.PostgresError as exc:
            raise _SavepointsNeeded from exc
    return outcomes


def _refusal(exc: ApiError | asyncpg.PostgresError) -> Outcome:
    """A refused write-back's outcome, as the app's error handlers answer it; an error that
    is no refusal (our fault) is raised again."""
    refusal = exc if isinstance(exc, ApiError) else database_refusal(exc)
    if refusal is None:
        raise exc
    return Outcome(refusal.status_code, api_error_body(refusal), False)


def _rounds(write_backs: Sequence[s.WriteBack], indexes: list[int]) -> list[list[int]]:
    """The write-backs' ``indexes`` in rounds of one per ticket, each round in ticket id
    order: the n-th write-back to a ticket (in request order) goes in the n-th round, so
    that a round reads each ticket as the ones before left it."""
    rounds: list[list[int]] = []
    seen: dict[uuid.UUID, int] = {}
    # sorted() keeps the request's order among the write-backs to one ticket.
    for index in sorted(indexes, key=lambda i: write_backs[i].ticket_id):
        ticket_id = write_backs[index].ticket_id
        occurrence = seen[ticket_id] = seen.get(ticket_id, -1) + 1
        if occurrence == len(rounds):
            rounds.append([])
        rounds[occurrence].append(index)
    return rounds


@dataclass(frozen=True)
class Claim:
    """A write-back of a round as its first statement left it: its key claimed or not, its
    ticket's locked row (None: no such ticket), the departments it names (id -> exists) and
    the agents (id -> the agent, None: no such agent)."""

    write_back: s.WriteBack
    digest: str
    claimed: bool
    row: asyncpg.Record | None
    departments: dict[uuid.UUID, bool]
    agents: dict[uuid.UUID, KnownAgent | None]


def _named(write_backs: Sequence[s.WriteBack]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The departments and agents the write-backs' actions would look up."""
    departments: set[uuid.UUID] = set()
    agents: set[uuid.UUID] = set()
    for write_back in write_backs:
        for action in write_back.batch.actions:
            if isinstance(action, s.TransferAction):
                if action.department_id is not None:
                    departments.add(action.department_id)
                if action.agent_id is not None:
                    agents.add(action.agent_id)
            elif (
                isinstance(action, s.AddMessageAction)
                and action.author_kind == "agent"
                and action.author_id is not None
            ):
                agents.add(action.author_id)
    return departments, agents


async def _claim_round(
    conn: asyncpg.Connection, write_backs: Sequence[s.WriteBack], principal_id: str, now: datetime
) -> list[Claim]:
    """Claim the keys of a round of write-backs (one per ticket, in ticket id order) and lock
    their tickets, in one statement. Their keys were checked (``idempotency.check_key``)."""
    digests = [request_digest(w.ticket_id, w.batch) for w in write_backs]
    named_departments, named_agents = _named(write_backs)
    rows = await conn.fetch(
        CLAIM_AND_LOCK_TICKETS,
        [w.ticket_id for w in write_backs],
        list(named_departments),
        principal_id,
        [w.idempotency_key for w in write_backs],
        digests,
        now,
        list(named_agents),
    )
    claimed = set(rows[0]["claimed"])
    departments = dict.fromkeys(named_departments, False) | dict.fromkeys(
        rows[0]["departments"], True
    )
    agents = named_agents_of(rows[0], named_agents)
    found = {row["id"]: row for row in rows if row["id"] is not None}
    return [
        Claim(w, digest, w.idempotency_key in claimed, found.get(w.ticket_id), departments, agents)
        for w, digest in zip(write_backs, digests, strict=True)
    ]


async def _apply_write_back(
    store: ConnectionStore,
    claim: Claim,
    principal_id: str,
    now: datetime,
    topics: Topics,
) -> Outcome:
    """A claimed write-back applied through ``store`` (its reads and its write), or the
    response stored under its key replayed."""
    write_back = claim.write_back
    ticket_id, batch, key = write_back.ticket_id, write_back.batch, write_back.idempotency_key
    if not claim.claimed:
        stored = await idempotency.stored_response(store.conn, principal_id, key, claim.digest)
        return Outcome(stored.status_code, stored.body, True)
    if claim.row is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    body = await _apply(store, claim.row, batch, origin_of_batch(batch), now, topics)
    await store.flush(KeyResponse(principal_id, key, 200, body))
    return Outcome(200, body, False)


async def _apply(
    store: ConnectionStore,
    row: asyncpg.Record,
    batch: s.ActionBatch,
    origin: Origin,
    now: datetime,
    topics: Topics,
) -> dict[str, Any]:
    """The batch applied to the ticket locked in ``row``: the response to it."""
    ticket, context = locked_ticket_of(row)
    check_version(ticket, batch.expected_version)
    editor = TicketEditor(None, ticket, origin, now, topics, context=context, store=store)
    for index, action in enumerate(batch.actions):
        if isinstance(action, s.PurgeAction):
            if index != len(batch.actions) - 1:
                raise Unprocessable(f"actions[{index}]: purge must be the last action")
            await editor.save()
            try:
                event = await purge_ticket(store, ticket, origin, now, topics, context=context)
            except Conflict as exc:
                exc.message = f"actions[{index}] (purge): {exc.message}"
                raise
            ids = [e.id for e in editor.events] + [event.id]
            return {"ticket": None, "purged": True, "event_ids": [str(i) for i in ids]}
        await apply_numbered(editor, index, action)
    await editor.save()
    if editor.events:
        snapshot = editor.events[-1].ticket  # type: ignore[attr-defined]
    else:
        snapshot = ticket_snapshot(ticket, await store.load_context(ticket, context))
    return {
        "ticket": snapshot.model_dump(mode="json"),
        "purged": False,
        "event_ids": [str(e.id) for e in editor.events],
    }


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
    """Apply one write-back action."""
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
        case s.SetSlaStateAction():
            editor.set_sla_state(action.due_at, action.late, action.stamp)
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
            await editor.add_message(action)
        case _:
            raise Unprocessable(f"unknown action {action!r}")
