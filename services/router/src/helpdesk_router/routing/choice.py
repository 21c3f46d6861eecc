"""Which agent gets a ticket, and why: plain functions, no I/O.

``choose`` takes every agent the router knows for the ticket's department and channel and
returns the winner (or, for ring all, everyone the ticket is offered to) together with one
verdict per candidate, in the order the candidates were given. Filters apply first, in
this order: another department, not online on the channel, no free slot. Among the agents
left only the best (lowest) priority number competes; the method then picks one.

Every tie ends on the agent who was assigned work longest ago (never assigned counts as
longest), then on the agent id, so the same state always gives the same answer and no
agent is favoured for its id alone.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Method = Literal[
    "ring_all", "max_utilization", "average_utilization", "random", "round_robin", "priority"
]
METHODS: tuple[Method, ...] = (
    "ring_all",
    "max_utilization",
    "average_utilization",
    "random",
    "round_robin",
    "priority",
)
Outcome = Literal["winner", "offered", "not_chosen", "skipped"]
SkipReason = Literal["other_department", "offline", "full", "lower_priority"]


# Not frozen: a decision builds one per agent of the department, and a frozen dataclass's
# ``__init__`` (object.__setattr__ per field) costs several times a plain one's.
@dataclass(slots=True)
class Candidate:
    """An agent as the router sees them on one channel at the moment of the decision."""

    agent_id: uuid.UUID
    # 1 is the highest priority, 100 the lowest.
    priority: int
    load: int
    max_load: int
    online: bool
    department_ids: frozenset[uuid.UUID]
    last_assigned_at: datetime | None = None

    @property
    def utilization(self) -> float:
        # Exact enough to order and tie: division is correctly rounded, so equal ratios
        # give equal floats, and two different ratios of loads this small are farther
        # apart than the float's precision.
        return self.load / self.max_load


# Not frozen, as Candidate: one per candidate of every decision.
@dataclass(slots=True)
class Verdict:
    agent_id: uuid.UUID
    outcome: Outcome
    reason: str
    skipped_because: SkipReason | None = None


@dataclass(frozen=True)
class Decision:
    # A policy's method, or "only_agent" (see ``only_agent``).
    method: Method | Literal["only_agent"]
    # The agent the ticket is assigned to; None for ring all and when nobody is eligible.
    winner: uuid.UUID | None
    # Ring all: every agent the ticket is offered to.
    offered: tuple[uuid.UUID, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def nobody(self) -> bool:
        return self.winner is None and not self.offered


def choose(
    method: Method,
    candidates: Sequence[Candidate],
    *,
    department_id: uuid.UUID,
    channel: str,
    rng: random.Random,
) -> Decision:
    """The decision for one ticket of ``department_id`` on ``channel``."""
    # One verdict per candidate, by position: skipped ones first, then the method's.
    verdicts: list[Verdict | None] = []
    eligible: list[Candidate] = []
    for candidate in candidates:
        verdict = _skip(candidate, department_id, channel)
        verdicts.append(verdict)
        if verdict is None:
            eligible.append(candidate)
    if eligible:
        best = min(c.priority for c in eligible)
        if any(c.priority > best for c in eligible):
            for position, candidate in enumerate(candidates):
                if verdicts[position] is None and candidate.priority > best:
                    verdicts[position] = Verdict(
                        candidate.agent_id,
                        "skipped",
                        f"lower priority: {candidate.priority} on {channel}, "
                        f"an eligible agent has {best}",
                        "lower_priority",
                    )
            eligible = [c for c in eligible if c.priority == best]
    if method == "ring_all":
        return Decision(
            method,
            None,
            tuple(c.agent_id for c in eligible),
            tuple(
                verdict or Verdict(c.agent_id, "offered", "eligible: ring all offers to everyone")
                for verdict, c in zip(verdicts, candidates, strict=True)
            ),
        )
    winner, reason = _pick(method, eligible, rng) if eligible else (None, "")
    return Decision(
        method,
        winner.agent_id if winner is not None else None,
        (),
        tuple(
            verdict
            or (Verdict(c.agent_id, "winner", reason) if c is winner else _not_chosen(method, c))
            for verdict, c in zip(verdicts, candidates, strict=True)
        ),
    )


def only_agent(agent_id: uuid.UUID) -> Decision:
    """A one-agent account: the agent gets every ticket, whatever its department, their
    availability or their load, since nobody else could take it."""
    verdict = Verdict(agent_id, "winner", "the account's only active agent gets every ticket")
    return Decision("only_agent", agent_id, (), (verdict,))


def _skip(candidate: Candidate, department_id: uuid.UUID, channel: str) -> Verdict | None:
    agent = candidate.agent_id
    if department_id not in candidate.department_ids:
        return Verdict(agent, "skipped", "not a member of the department", "other_department")
    if not candidate.online:
        return Verdict(agent, "skipped", f"not online on {channel}", "offline")
    if candidate.load >= candidate.max_load:
        return Verdict(
            agent,
            "skipped",
            f"full: {candidate.load} of {candidate.max_load} {channel} slots taken",
            "full",
        )
    return None


def _fairness(candidate: Candidate) -> tuple[bool, datetime | None, uuid.UUID]:
    # Never assigned sorts before any time, then the oldest assignment, then the id.
    last = candidate.last_assigned_at
    return (last is not None, last, candidate.agent_id)


def _pick(method: Method, eligible: list[Candidate], rng: random.Random) -> tuple[Candidate, str]:
    """The winner among ``eligible`` (not empty) and why; not for ring all."""
    if method == "random":
        # Sorted first, so a seeded generator draws the same agent for the same state.
        winner = rng.choice(sorted(eligible, key=lambda c: c.agent_id))
        return winner, f"drawn at random among {len(eligible)} eligible agents"
    if method == "average_utilization":
        winner = min(eligible, key=lambda c: (c.utilization, c.load, *_fairness(c)))
        return winner, f"least loaded: {winner.load} of {winner.max_load} slots taken"
    if method == "max_utilization":
        winner = min(eligible, key=lambda c: (-c.utilization, -c.load, *_fairness(c)))
        return winner, f"busiest with a free slot: {winner.load} of {winner.max_load} slots taken"
    # round_robin, and priority (calls): the best priority, taking turns.
    winner = min(eligible, key=_fairness)
    return winner, (
        "next in turn: never assigned work"
        if winner.last_assigned_at is None
        else f"next in turn: last assigned work at {winner.last_assigned_at.isoformat()}"
    )


def _not_chosen(method: Method, candidate: Candidate) -> Verdict:
    if method == "random":
        reason = "eligible, not drawn"
    elif method == "average_utilization":
        reason = (
            f"eligible, {candidate.load} of {candidate.max_load} slots taken: "
            "the winner was less loaded, or as loaded and next in turn"
        )
    elif method == "max_utilization":
        reason = (
            f"eligible, {candidate.load} of {candidate.max_load} slots taken: "
            "the winner was busier, or as busy and next in turn"
        )
    else:
        reason = "eligible, not next in turn"
    return Verdict(candidate.agent_id, "not_chosen", reason)
