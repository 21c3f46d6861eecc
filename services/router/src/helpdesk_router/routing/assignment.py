"""The one way the router assigns a ticket — a pushed decision, a "next" request, an
accepted offer alike: reserve the slot, commit, write back.

1. ``reserve``, inside the caller's short transaction that holds the ticket's row and
   then the agent's (``lock_agent``; always in that order, so decisions, agent events,
   "next" and offers never deadlock): in one statement the ticket becomes ``reserved``
   for the agent if they still have a free slot — from then on it counts in their load —
   together with the explained decision and a ``pending_assignment`` row. A decision
   that chose the agent on their load and turn reserves only if both are still what it
   read, now that their row is held.
2. The caller commits: the agent's row is held for two statements, never across a call to
   ticket-api, so two routers deciding for one department only wait for each other's
   reservations.
3. ``write_back``: the transfer through ticket-api's actions endpoint, with the version the
   decision saw (``expected_version``) and the decision's idempotency key. Accepted: the
   ticket is ``assigned`` and the pending row goes. Refused (a person changed the ticket
   meanwhile): the reservation is released, the ticket waits again and the decision is
   recorded as ``refused``.

A process killed between 2 and 3 leaves its pending rows behind; ``retry_pending`` (the
worker at start, and every ``ROUTER_PENDING_RETRY_SECONDS`` for rows older than that) writes
them back again: the idempotency key makes a write that did reach ticket-api a replay of
its first answer, so nothing is lost or assigned twice. Every statement here goes straight
to asyncpg: the decision path is the router's hot path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from helpdesk_ticket_client import ActionBatch, TicketApiClient
from helpdesk_ticket_client.actions import ActionActor, TransferAction
from sqlalchemy.ext.asyncio import AsyncEngine

from ..models import ASSIGNED, OFFERED, RESERVED, UNROUTED, WAITING
from .choice import Candidate, Verdict

# What a refused write-back says, kept short in the decision's reason.
_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class Assignment:
    """A slot to reserve: who gets which ticket, and the decision that explains why."""

    ticket_id: uuid.UUID
    agent_id: uuid.UUID
    channel: str
    # The ticket version the decision saw: the write-back applies only at this version.
    version: int
    # None: no limit (a one-agent account's only agent gets every ticket).
    max_load: int | None
    idempotency_key: str
    method: str
    # The actor's name in the ticket's history.
    actor_name: str
    reason: str
    # Every candidate's verdict, stored as the decision's record (``verdicts_json``).
    candidates: Sequence[Verdict]
    event_id: uuid.UUID | None = None
    # The winner as the decision read them: the slot is reserved only if their load and
    # last assignment are still these (their row held, no decision elsewhere can move
    # them). None: any free slot will do (a random draw, "next", an accepted offer).
    winner_as_read: Candidate | None = None
    # One-agent account: the ticket also moves to ``department_id`` (None: no department).
    moves_department: bool = False
    department_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Pending:
    """A reserved slot whose write-back has not been answered yet."""

    ticket_id: uuid.UUID
    agent_id: uuid.UUID
    expected_version: int
    idempotency_key: str
    actor_name: str
    moves_department: bool
    department_id: uuid.UUID | None
    causation_id: uuid.UUID | None


@dataclass(frozen=True)
class Written:
    """What ticket-api answered a write-back."""

    outcome: str  # assigned / refused
    agent_id: uuid.UUID | None
    status_code: int
    # The ticket's version after the assignment; None when refused.
    version: int | None


_LOCK_AGENT = "SELECT 1 FROM routing.agent WHERE id = $1 FOR UPDATE"
_TRY_LOCK_AGENT = "SELECT 1 FROM routing.agent WHERE id = $1 FOR UPDATE SKIP LOCKED"

# A pending_assignment row as ``Pending`` reads it.
_PENDING_COLUMNS = """ticket_id, agent_id, expected_version, idempotency_key, actor_name,
       moves_department, department_id, causation_id"""

# $1 ticket, $2 agent, $3 version, $4 channel, $5 maximum load, $6 event, $7 method,
# $8 reason, $9 candidates, $10 now, $11 key, $12 actor name, $13 states the ticket may be
# reserved from, $14 moves department, $15 department, $16 whether the winner must be as
# read, $17 their load and $18 their last assignment as read.
_RESERVE = f"""
WITH agent AS (
    SELECT coalesce(l.load, 0) AS load, l.last_assigned_at
    FROM (VALUES (1)) AS one
    LEFT JOIN routing.agent_load AS l ON l.agent_id = $2 AND l.channel = $4::varchar
), reserved AS (
    UPDATE routing.ticket
    SET state = '{RESERVED}', agent_id = $2, assigned_at = $10, retry_routing = false
    FROM agent
    WHERE id = $1 AND version = $3 AND state = ANY($13::varchar[]) AND agent.load < $5
      AND (NOT $16 OR (agent.load = $17
                       AND agent.last_assigned_at IS NOT DISTINCT FROM $18::timestamptz))
    RETURNING id, department_id
), decision AS (
    INSERT INTO routing.decision
        (ticket_id, event_id, department_id, channel, method, outcome, agent_id, reason,
         candidates, decided_at)
    SELECT id, $6, department_id, $4::varchar, $7, '{ASSIGNED}', $2, $8, $9::jsonb, $10
    FROM reserved
    RETURNING id
)
INSERT INTO routing.pending_assignment
    (ticket_id, agent_id, expected_version, idempotency_key, actor_name, moves_department,
     department_id, decision_id, causation_id, reserved_at)
SELECT $1, $2, $3, $11, $12, $14, $15, id, $6, $10 FROM decision
ON CONFLICT (ticket_id) DO UPDATE SET
    agent_id = excluded.agent_id, expected_version = excluded.expected_version,
    idempotency_key = excluded.idempotency_key, actor_name = excluded.actor_name,
    moves_department = excluded.moves_department, department_id = excluded.department_id,
    decision_id = excluded.decision_id, causation_id = excluded.causation_id,
    reserved_at = excluded.reserved_at
RETURNING {_PENDING_COLUMNS}
"""

# Accepted write-backs, several at once ($1.. one array per column: ticket, key, holder,
# new version, moves department, department, reason when the holder is not the agent
# reserved). Only the pending row of each write-back (its key): a later decision for the
# ticket has its own. A ticket row changes only if it is still the reservation its
# write-back was for: an event of the ticket may have moved it on already.
_FINISH = f"""
WITH answer AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::bool[],
                         $6::uuid[], $7::text[])
        AS a(ticket_id, idempotency_key, holder, version, moves_department, department_id,
             reason)
), done AS (
    DELETE FROM routing.pending_assignment AS p
    USING answer AS a
    WHERE p.ticket_id = a.ticket_id AND p.idempotency_key = a.idempotency_key
    RETURNING p.ticket_id, p.idempotency_key, p.decision_id, p.expected_version
), decided AS (
    UPDATE routing.decision AS d SET agent_id = a.holder, reason = a.reason
    FROM done JOIN answer AS a USING (ticket_id, idempotency_key)
    WHERE a.reason IS NOT NULL AND d.id = done.decision_id
)
UPDATE routing.ticket AS t
SET state = '{ASSIGNED}', agent_id = a.holder, version = a.version,
    department_id = CASE WHEN a.moves_department THEN a.department_id ELSE t.department_id END
FROM done JOIN answer AS a USING (ticket_id, idempotency_key)
WHERE t.id = done.ticket_id AND t.state = '{RESERVED}' AND t.version = done.expected_version
"""

# $1 ticket, $2 key, $3 reason.
_RELEASE = f"""
WITH done AS (
    DELETE FROM routing.pending_assignment
    WHERE ticket_id = $1 AND idempotency_key = $2
    RETURNING decision_id, expected_version
), refused AS (
    UPDATE routing.decision SET outcome = 'refused', reason = $3
    WHERE id IN (SELECT decision_id FROM done)
)
UPDATE routing.ticket AS t
SET state = CASE WHEN t.department_id IS NULL THEN '{UNROUTED}' ELSE '{WAITING}' END,
    agent_id = NULL, assigned_at = NULL, retry_routing = true
FROM done
WHERE t.id = $1 AND t.state = '{RESERVED}' AND t.version = done.expected_version
"""

_PENDING = f"""
SELECT {_PENDING_COLUMNS}
FROM routing.pending_assignment
WHERE reserved_at <= $1
ORDER BY reserved_at
LIMIT $2
"""

# Where a ticket may be reserved from: waiting in its queue, without department (one-agent
# account), or offered (an accepted offer).
RESERVABLE = [WAITING, UNROUTED, OFFERED]


@asynccontextmanager
async def autocommit_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """An asyncpg connection outside any transaction SQLAlchemy manages: the assignment
    path begins and commits its own short ones."""
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if driver is None:
            raise RuntimeError("the pool handed out a closed connection")
        try:
            yield driver
        finally:
            if not driver.is_closed() and driver.is_in_transaction():
                await driver.execute("ROLLBACK")


def verdicts_json(verdicts: Sequence[Verdict]) -> str:
    """The candidates' verdicts as a decision stores them (jsonb). Written as plain dicts:
    orjson takes those several times faster than the dataclasses themselves with
    asyncpg's ids, which it leaves to a ``default`` callback."""
    return orjson.dumps(
        [
            {
                "agent_id": str(v.agent_id),
                "outcome": v.outcome,
                "reason": v.reason,
                "skipped_because": v.skipped_because,
            }
            for v in verdicts
        ]
    ).decode()


async def lock_agent(db: Any, agent_id: uuid.UUID, *, wait: bool) -> bool:
    """Lock the agent's row for a reservation, after the ticket's; ``wait=False`` gives up
    (False) when another transaction holds it."""
    if wait:
        await db.execute(_LOCK_AGENT, agent_id)
        return True
    return await db.fetchval(_TRY_LOCK_AGENT, agent_id) is not None


async def reserve(db: Any, assignment: Assignment, now: datetime) -> Pending | None:
    """Reserve the agent's slot for the ticket, inside the caller's transaction, which
    holds the ticket's row and then the agent's (``lock_agent``): the load read here
    (routing.agent_load) is then final until the commit. None when the agent has no free
    slot any more, their load or turn moved since the decision read them
    (``winner_as_read``), or the ticket is no longer where the decision saw it."""
    as_read = assignment.winner_as_read
    reserved = await db.fetchrow(
        _RESERVE,
        assignment.ticket_id,
        assignment.agent_id,
        assignment.version,
        assignment.channel,
        assignment.max_load if assignment.max_load is not None else 2**31 - 1,
        assignment.event_id,
        assignment.method,
        assignment.reason,
        verdicts_json(assignment.candidates),
        now,
        assignment.idempotency_key,
        assignment.actor_name,
        RESERVABLE,
        assignment.moves_department,
        assignment.department_id,
        as_read is not None,
        as_read.load if as_read is not None else None,
        as_read.last_assigned_at if as_read is not None else None,
    )
    return None if reserved is None else Pending(**reserved)


@dataclass(frozen=True)
class _Accepted:
    """An accepted write-back, to record: the ticket assigned, the pending row gone."""

    ticket_id: uuid.UUID
    idempotency_key: str
    holder: uuid.UUID
    version: int
    moves_department: bool
    department_id: uuid.UUID | None
    # Why the ticket went to someone else than the agent reserved; None when it did not.
    reason: str | None


async def _record_accepted(db: Any, accepted: list[_Accepted]) -> None:
    await db.execute(
        _FINISH,
        [a.ticket_id for a in accepted],
        [a.idempotency_key for a in accepted],
        [a.holder for a in accepted],
        [a.version for a in accepted],
        [a.moves_department for a in accepted],
        [a.department_id for a in accepted],
        [a.reason for a in accepted],
    )


class Answers:
    """Records the accepted write-backs of concurrent decisions together: they come back
    at about the same time (ticket-api answers a batch of them at once), and one statement
    records every answer that arrived while the previous statement ran, on the connection
    of the write-back that sends it. One per process; each write-back's caller holds its
    own connection, which waits for the statement that records its answer."""

    def __init__(self) -> None:
        self._queued: list[tuple[_Accepted, asyncio.Future[bool]]] = []
        # A write-back is sending the statement, and hands the queue on when it is done.
        self._recording = False

    @property
    def waiting(self) -> int:
        """Answers waiting for the statement that records them."""
        return sum(not recorded.done() for _, recorded in self._queued)

    async def record(self, db: Any, accepted: _Accepted) -> None:
        mine: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queued.append((accepted, mine))
        if self._recording:
            try:
                # True: recorded by another write-back's statement; False: this write-back
                # sends the next one.
                if await mine:
                    return
            except asyncio.CancelledError:
                if mine.done() and not mine.cancelled() and mine.result() is False:
                    self._hand_on()
                raise
        else:
            self._recording = True
            try:
                # The write-backs one ticket-api response answers resume one after another
                # in this turn of the loop: letting it run once puts all their answers in
                # this statement, rather than this one alone and the rest in the next.
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                # Queued still: the next statement records it.
                mine.cancel()
                self._hand_on()
                raise
        batch, self._queued = self._queued, []
        try:
            await _record_accepted(db, [a for a, _ in batch])
        except BaseException as error:
            for _, recorded in batch:
                if recorded is not mine and not recorded.done():
                    failed = RuntimeError("recording the accepted write-back failed")
                    failed.__cause__ = error
                    recorded.set_exception(failed)
            raise
        else:
            for _, recorded in batch:
                if not recorded.done():
                    recorded.set_result(True)
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        """The next queued write-back whose caller still waits sends the next statement;
        with none, the next to come does."""
        for _, waiting in self._queued:
            if not waiting.done():
                waiting.set_result(False)
                return
        self._recording = False


async def write_back(
    db: Any, ticket_api: TicketApiClient, pending: Pending, answers: Answers | None = None
) -> Written:
    """Assign through ticket-api what was reserved (outside any transaction), then record
    the answer: the ticket assigned (through ``answers``, with other write-backs' answers;
    None: at once), or the reservation released."""
    transfer = (
        TransferAction(
            type="transfer", agent_id=pending.agent_id, department_id=pending.department_id
        )
        if pending.moves_department
        else TransferAction(type="transfer", agent_id=pending.agent_id)
    )
    batch = ActionBatch(
        actor=ActionActor(kind="router", id="router", name=pending.actor_name),
        actions=[transfer],
        causation_id=pending.causation_id,
        # A person who changed the ticket meanwhile wins: ticket-api answers 409.
        expected_version=pending.expected_version,
    )
    result = await ticket_api.apply_actions(pending.ticket_id, batch, pending.idempotency_key)
    if not result.ok:
        await db.execute(
            _RELEASE,
            pending.ticket_id,
            pending.idempotency_key,
            f"ticket-api refused the assignment ({result.status_code}): {_message(result.body)}"[
                :_MESSAGE_LIMIT
            ],
        )
        return Written("refused", pending.agent_id, result.status_code, None)
    written = result.body.get("ticket") or {}
    holder = uuid.UUID(written["agent_id"]) if written.get("agent_id") else pending.agent_id
    department = written.get("department_id")
    version = int(written.get("version", pending.expected_version + 1))
    accepted = _Accepted(
        ticket_id=pending.ticket_id,
        idempotency_key=pending.idempotency_key,
        holder=holder,
        version=version,
        moves_department="department_id" in written,
        department_id=uuid.UUID(department) if department else None,
        reason=None
        if holder == pending.agent_id
        else (
            f"the ticket went to {holder}: the assignment had been written before this "
            "decision was taken again, and ticket-api replayed it"
        ),
    )
    if answers is None:
        await _record_accepted(db, [accepted])
    else:
        await answers.record(db, accepted)
    return Written(ASSIGNED, holder, result.status_code, version)


async def retry_pending(
    db: Any, ticket_api: TicketApiClient, reserved_before: datetime, *, batch: int = 100
) -> int:
    """Write back again the reservations made before ``reserved_before`` that nobody
    finished (a process killed after committing them, ticket-api unreachable); how many."""
    retried = 0
    while True:
        rows = await db.fetch(_PENDING, reserved_before, batch)
        for row in rows:
            await write_back(db, ticket_api, Pending(**row))
        retried += len(rows)
        if len(rows) < batch:
            return retried


def _message(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return ""
