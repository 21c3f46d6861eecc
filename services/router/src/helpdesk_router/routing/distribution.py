"""Routing a waiting ticket: candidates and their loads, the choice, the reservation, and
the record that explains it — then, outside the transaction, the write-back
(routing/assignment.py).

A decision runs in the caller's short transaction, which holds the ticket's row: one
statement reads the policy and the department's agents with their loads, ``choose``
decides, the winner's row is locked, and ``reserve`` reserves their slot only if their
load and turn are still what the decision read (another router may have moved them since
the read; the decision is then taken again on fresh loads). Nothing is held in a process:
two routers share the state in PostgreSQL alone.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from helpdesk_events import ChatOffered, Topics, outbox_rows
from helpdesk_ticket_client import TicketApiClient

from ..models import ASSIGNED, OFFERED, RESERVED, WAITING
from .assignment import (
    Answers,
    Assignment,
    Pending,
    lock_agent,
    reserve,
    verdicts_json,
    write_back,
)
from .choice import Candidate, Decision, Verdict, choose, only_agent
from .offers import RING_ALL
from .policies import Policy, default_policy, default_profile

# How many waiting tickets one event may hand to an agent who came online or freed slots;
# the rest follow with the agent's next event, so one handler never runs for long.
FLOW_LIMIT = 50
# The order every picker hands waiting work out in (flow to an agent here, "next" in
# routing/pull.py), over ``routing.ticket AS t``: nearest SLA due date first, tickets
# without one after them (NULLS LAST, as ix_ticket_queue stores them), then oldest first.
QUEUE_ORDER = "t.sla_due_at NULLS LAST, t.created_at, t.id"


@dataclass(frozen=True)
class Waiting:
    """A ticket to route, as its (locked) routing row says."""

    id: uuid.UUID
    department_id: uuid.UUID | None
    channel: str
    version: int


@dataclass(frozen=True)
class Routed:
    """What became of one routing attempt: ``reserved`` (``pending`` to write back),
    ``queued``, ``offered``, ``unrouted``; after the write-back ``assigned`` or
    ``refused``."""

    outcome: str
    agent_id: uuid.UUID | None
    pending: Pending | None = None


_SOLE_AGENT = "SELECT id, department_ids FROM routing.agent WHERE active"
# In one round trip: the policy, whether the account has exactly one active agent, and
# the department's active agents with their profile (else the channel's default, $3 and
# $4) and load on the channel, in id order — one row with the policy alone when the
# department has none. ``_inputs`` unpacks the columns in this order.
_INPUTS = """
SELECT p.method, p.distribution, p.offer_timeout_seconds,
       (SELECT count(*) FROM (SELECT 1 FROM routing.agent WHERE active LIMIT 2) AS a) AS actives,
       c.*
FROM (VALUES (1)) AS one
LEFT JOIN routing.policy AS p ON p.department_id = $1 AND p.channel = $2::varchar
LEFT JOIN LATERAL (
    SELECT a.id,
           coalesce(a.availability ->> $2::varchar = 'online', false) AS online,
           coalesce(ap.priority, $3) AS priority, coalesce(ap.max_load, $4) AS max_load,
           coalesce(l.load, 0) AS load, l.last_assigned_at
    FROM routing.agent AS a
    LEFT JOIN routing.agent_channel_profile AS ap
      ON ap.agent_id = a.id AND ap.channel = $2::varchar
    LEFT JOIN routing.agent_load AS l ON l.agent_id = a.id AND l.channel = $2::varchar
    WHERE a.active AND a.department_ids @> ARRAY[$1::uuid]
) AS c ON true
ORDER BY c.id
"""
_RECORD = """
INSERT INTO routing.decision
    (ticket_id, event_id, department_id, channel, method, outcome, agent_id, reason,
     candidates, decided_at)
VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8::jsonb, $9)
"""
_OFFER = f"""
WITH offered AS (UPDATE routing.ticket SET state = '{OFFERED}' WHERE id = $2)
INSERT INTO routing.offer
    (id, ticket_id, department_id, channel, agent_ids, state, accepted_by, offered_at,
     expires_at)
VALUES ($1, $2, $3, $4, $5::uuid[], 'open', NULL, $6, $7)
"""
_PUBLISH = """
INSERT INTO routing.outbox (shard, topic, key, event_type, payload)
VALUES ($1, $2, $3, $4, $5)
"""
# The first waiting ticket in queue order of the agent's departments on the channels they
# are online on; one that another decision holds is passed over, not waited for.
_NEXT_FOR_AGENT = f"""
SELECT t.id, t.department_id, t.channel, t.version
FROM routing.agent AS a
JOIN routing.ticket AS t
  ON t.state = '{WAITING}' AND t.department_id = ANY(a.department_ids)
 AND a.availability ->> t.channel = 'online'
WHERE a.id = $1 AND a.active
ORDER BY {QUEUE_ORDER}
LIMIT 1
FOR UPDATE OF t SKIP LOCKED
"""


class Distributor:
    def __init__(
        self,
        ticket_api: TicketApiClient,
        rng: random.Random | None = None,
        *,
        topics: Topics | None = None,
    ) -> None:
        """``topics``: where the offers' events go (None: the unprefixed topic names)."""
        self._ticket_api = ticket_api
        self._answers = Answers()
        self._rng = rng or random.Random()
        self._tickets_topic = (topics or Topics()).tickets

    async def decide(
        self,
        db: Any,
        ticket: Waiting,
        *,
        now: datetime,
        event_id: uuid.UUID | None,
        held_agent: uuid.UUID | None = None,
    ) -> Routed:
        """Decide who gets the waiting ``ticket`` and reserve their slot, in the caller's
        transaction (which holds the ticket's row, and ``held_agent``'s row if given). The
        caller commits, then calls ``write_back`` with the result."""
        context, candidates = await self._inputs(db, ticket.department_id, ticket.channel)
        if context["actives"] == 1:
            return await self._to_only_agent(db, ticket, now, event_id)
        if ticket.department_id is None:
            return Routed("unrouted", None)
        policy = (
            default_policy(ticket.channel)
            if context["method"] is None
            else Policy(
                context["method"],
                context["distribution"],
                context["offer_timeout_seconds"],
                configured=True,
            )
        )
        if policy.distribution == "pull":
            await self._record(
                db,
                ticket,
                method=policy.method,
                outcome="queued",
                reason=(
                    f"the department distributes {ticket.channel} by pull: the ticket waits "
                    "in its to-solve queue until an agent asks for the next one"
                ),
                candidates=[],
                now=now,
                event_id=event_id,
            )
            return Routed("queued", None)
        # Agents whose row another decision holds right now (it is reserving one of their
        # slots): passed over rather than waited for, while someone else is eligible.
        busy: set[uuid.UUID] = set()
        # Agents whose row this decision holds. It waits for a row only while it holds
        # none, so two decisions never wait for each other.
        held: set[uuid.UUID] = set() if held_agent is None else {held_agent}
        while True:
            decision = choose(
                policy.method,
                [c for c in candidates if c.agent_id not in busy] if busy else candidates,
                department_id=ticket.department_id,
                channel=ticket.channel,
                rng=self._rng,
            )
            wait = False
            if decision.winner is None and busy:
                # Everyone eligible is being assigned something this instant: the one the
                # method prefers among them all, waited for (or tried again while this
                # decision holds a row).
                busy.clear()
                decision = choose(
                    policy.method,
                    candidates,
                    department_id=ticket.department_id,
                    channel=ticket.channel,
                    rng=self._rng,
                )
                wait = not held
            verdicts = _verdicts(decision, candidates, busy)
            if decision.offered:
                return await self._offer(
                    db, ticket, ticket.department_id, decision, verdicts, policy, now, event_id
                )
            if decision.winner is None:
                await self._record(
                    db,
                    ticket,
                    method=decision.method,
                    outcome="queued",
                    reason=(
                        "no eligible agent: the ticket waits for one to come online or free a slot"
                    ),
                    candidates=verdicts,
                    now=now,
                    event_id=event_id,
                )
                return Routed("queued", None)
            winner = next(c for c in candidates if c.agent_id == decision.winner)
            if winner.agent_id not in held:
                if not await lock_agent(db, winner.agent_id, wait=wait):
                    busy.add(winner.agent_id)
                    continue
                held.add(winner.agent_id)
            reason = next(v.reason for v in decision.verdicts if v.agent_id == winner.agent_id)
            pending = await reserve(
                db,
                _pushed_to(
                    winner.agent_id,
                    ticket,
                    decision,
                    event_id,
                    max_load=winner.max_load,
                    reason=reason,
                    candidates=verdicts,
                    # Decisions in flight elsewhere may have moved the winner's load or
                    # turn since the read: the choice stands only on the winner as read.
                    # A random draw needs a free slot alone.
                    winner_as_read=None if policy.method == "random" else winner,
                ),
                now,
            )
            if pending is not None:
                return Routed(RESERVED, winner.agent_id, pending)
            # The winner's load or turn moved after the read: the decision is taken again
            # on the loads as they are now, with the rows this decision holds still held.
            busy.clear()
            _, candidates = await self._inputs(db, ticket.department_id, ticket.channel)

    async def write_back(self, db: Any, routed: Routed) -> Routed:
        """Write back a reservation ``decide`` made (after the caller committed it)."""
        if routed.pending is None:
            return routed
        written = await write_back(db, self._ticket_api, routed.pending, self._answers)
        return Routed(written.outcome, written.agent_id)

    async def flow_to_agent(
        self, db: Any, agent_id: uuid.UUID, *, now: datetime, event_id: uuid.UUID | None
    ) -> None:
        """Waiting work of the agent's departments, oldest first, routed again now that the
        agent came online or freed a slot (others may still win the decision). Each
        decision is a transaction of its own; the caller holds none."""
        for _ in range(FLOW_LIMIT):
            async with db.transaction():
                row = await db.fetchrow(_NEXT_FOR_AGENT, agent_id)
                if row is None:
                    return
                routed = await self.decide(db, Waiting(**dict(row)), now=now, event_id=event_id)
            routed = await self.write_back(db, routed)
            if routed.outcome != ASSIGNED:
                return

    async def _to_only_agent(
        self, db: Any, ticket: Waiting, now: datetime, event_id: uuid.UUID | None
    ) -> Routed:
        sole = await db.fetchrow(_SOLE_AGENT)
        departments: list[uuid.UUID] = list(sole["department_ids"])
        # ticket-api assigns an agent only within their departments: a ticket of another
        # department (or none) moves to the agent's first department, or to none.
        moves = ticket.department_id not in departments
        decision = only_agent(sole["id"])
        await lock_agent(db, sole["id"], wait=True)
        pending = await reserve(
            db,
            _pushed_to(
                sole["id"],
                ticket,
                decision,
                event_id,
                max_load=None,
                reason=decision.verdicts[0].reason,
                candidates=_verdicts(decision, [], set()),
                moves_department=moves,
                department_id=(departments[0] if departments else None) if moves else None,
            ),
            now,
        )
        if pending is None:
            raise RuntimeError(f"ticket {ticket.id} could not be reserved under its own lock")
        return Routed(RESERVED, sole["id"], pending)

    async def _inputs(
        self, db: Any, department_id: uuid.UUID | None, channel: str
    ) -> tuple[Any, list[Candidate]]:
        """The policy row (method, distribution, offer timeout, active agents) and the
        department's candidates (none without a department)."""
        default = default_profile(channel)
        rows = await db.fetch(_INPUTS, department_id, channel, default.priority, default.max_load)
        # The statement returns the department's members alone: one set serves them all,
        # rather than each agent's departments decoded and copied.
        members = frozenset(() if department_id is None else (department_id,))
        return rows[0], [
            Candidate(agent_id, priority, load, max_load, online, members, last_assigned_at)
            for _, _, _, _, agent_id, online, priority, max_load, load, last_assigned_at in rows
            if agent_id is not None
        ]

    async def _offer(
        self,
        db: Any,
        ticket: Waiting,
        department_id: uuid.UUID,
        decision: Decision,
        verdicts: Sequence[Verdict],
        policy: Policy,
        now: datetime,
        event_id: uuid.UUID | None,
    ) -> Routed:
        offer_id = uuid.uuid4()
        expires_at = now + timedelta(seconds=policy.offer_timeout_seconds)
        await db.execute(
            _OFFER,
            offer_id,
            ticket.id,
            department_id,
            ticket.channel,
            list(decision.offered),
            now,
            expires_at,
        )
        if ticket.channel == "chat":
            # In the offer's transaction, which holds the ticket's row: the agents ring
            # exactly when the offer exists, and before the ``chat.missed`` that may end it.
            offered = ChatOffered(
                occurred_at=now,
                ticket_id=ticket.id,
                actor=RING_ALL,
                correlation_id=offer_id,
                causation_id=event_id,
                department_id=department_id,
                offer_id=offer_id,
                offered_to=list(decision.offered),
                expires_at=expires_at,
            )
            (row,) = outbox_rows(self._tickets_topic, [offered])
            await db.execute(
                _PUBLISH, row["shard"], row["topic"], row["key"], row["event_type"], row["payload"]
            )
        await self._record(
            db,
            ticket,
            method=decision.method,
            outcome="offered",
            reason=(
                f"offered to {len(decision.offered)} eligible agents at once: the first to "
                f"accept within {policy.offer_timeout_seconds} s gets it"
            ),
            candidates=verdicts,
            now=now,
            event_id=event_id,
        )
        return Routed("offered", None)

    async def _record(
        self,
        db: Any,
        ticket: Waiting,
        *,
        method: str,
        outcome: str,
        reason: str,
        candidates: Sequence[Verdict],
        now: datetime,
        event_id: uuid.UUID | None,
    ) -> None:
        await db.execute(
            _RECORD,
            ticket.id,
            event_id,
            ticket.department_id,
            ticket.channel,
            method,
            outcome,
            reason,
            verdicts_json(candidates),
            now,
        )


class _Reservation(TypedDict, total=False):
    """How an Assignment reserves beyond the decision itself (see Assignment)."""

    winner_as_read: Candidate | None
    moves_department: bool
    department_id: uuid.UUID | None


def _pushed_to(
    agent_id: uuid.UUID,
    ticket: Waiting,
    decision: Decision,
    event_id: uuid.UUID | None,
    *,
    max_load: int | None,
    reason: str,
    candidates: Sequence[Verdict],
    **reservation: Unpack[_Reservation],
) -> Assignment:
    """The assignment of ``ticket`` that ``decision`` pushes to ``agent_id``. The same
    ticket at the same version is assigned once, however often the event that led here is
    delivered."""
    return Assignment(
        ticket_id=ticket.id,
        agent_id=agent_id,
        channel=ticket.channel,
        version=ticket.version,
        max_load=max_load,
        idempotency_key=f"router:{ticket.id}:{ticket.version}",
        method=decision.method,
        actor_name=f"router ({decision.method})",
        reason=reason,
        candidates=candidates,
        event_id=event_id,
        **reservation,
    )


def _verdicts(
    decision: Decision, candidates: list[Candidate], busy: set[uuid.UUID]
) -> Sequence[Verdict]:
    """Every candidate's verdict in candidate order, the agents passed over as busy
    included (``choose`` then saw the others alone)."""
    if not busy:
        return decision.verdicts
    by_agent = {v.agent_id: v for v in decision.verdicts}
    for agent_id in busy:
        by_agent[agent_id] = Verdict(
            agent_id,
            "not_chosen",
            "eligible, but another decision was taking one of their slots at that moment",
        )
    return [by_agent[c.agent_id] for c in candidates if c.agent_id in by_agent]
