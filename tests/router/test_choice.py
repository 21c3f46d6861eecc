"""The routing choice on its own: every method over many tickets, priorities, capacity."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from helpdesk_router.routing.choice import METHODS, Candidate, Method, choose

DEPARTMENT = uuid.UUID(int=1000)
OTHER_DEPARTMENT = uuid.UUID(int=2000)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Assignments made during a test come after every time a test starts with.
LATER = START + timedelta(days=1)


def agent(number: int, **fields: object) -> Candidate:
    values: dict[str, object] = {
        "agent_id": uuid.UUID(int=number),
        "priority": 1,
        "load": 0,
        "max_load": 5,
        "online": True,
        "department_ids": frozenset({DEPARTMENT}),
    }
    values.update(fields)
    return Candidate(**values)  # type: ignore[arg-type]


def distribute(
    method: Method, agents: list[Candidate], tickets: int, seed: int = 7
) -> tuple[list[uuid.UUID | None], dict[uuid.UUID, Candidate]]:
    """Route ``tickets`` tickets one after another as the router would, each winner's load
    and last assignment updated before the next decision."""
    rng = random.Random(seed)
    state = {a.agent_id: a for a in agents}
    winners: list[uuid.UUID | None] = []
    for number in range(tickets):
        decision = choose(
            method, list(state.values()), department_id=DEPARTMENT, channel="chat", rng=rng
        )
        winners.append(decision.winner)
        if decision.winner is not None:
            won = state[decision.winner]
            state[won.agent_id] = replace(
                won, load=won.load + 1, last_assigned_at=LATER + timedelta(seconds=number)
            )
    return winners, state


def test_round_robin_takes_turns_in_an_exact_order() -> None:
    agents = [agent(n, max_load=100) for n in (3, 1, 2)]
    winners, _ = distribute("round_robin", agents, 9)
    order = [uuid.UUID(int=n) for n in (1, 2, 3)]
    assert winners == order * 3


def test_round_robin_starts_with_whoever_waited_longest() -> None:
    agents = [
        agent(1, max_load=100, last_assigned_at=START + timedelta(minutes=5)),
        agent(2, max_load=100, last_assigned_at=START),
        agent(3, max_load=100),
    ]
    winners, _ = distribute("round_robin", agents, 4)
    assert winners == [uuid.UUID(int=n) for n in (3, 2, 1, 3)]


def test_least_loaded_keeps_the_spread_within_one() -> None:
    agents = [
        agent(n, max_load=50, last_assigned_at=START + timedelta(minutes=n % 3))
        for n in range(1, 8)
    ]
    for tickets in range(1, 60):
        _, state = distribute("average_utilization", agents, tickets)
        loads = [a.load for a in state.values()]
        assert max(loads) - min(loads) <= 1, (tickets, loads)


def test_least_loaded_catches_up_an_agent_who_joins_empty() -> None:
    agents = [agent(1, load=4, max_load=50), agent(2, load=4, max_load=50), agent(3, max_load=50)]
    winners, state = distribute("average_utilization", agents, 7)
    assert winners[:4] == [uuid.UUID(int=3)] * 4
    assert sorted(a.load for a in state.values()) == [5, 5, 5]


def test_least_loaded_compares_utilization_not_raw_load() -> None:
    small = agent(1, load=1, max_load=2)
    large = agent(2, load=2, max_load=10)
    decision = choose(
        "average_utilization",
        [small, large],
        department_id=DEPARTMENT,
        channel="chat",
        rng=random.Random(1),
    )
    assert decision.winner == large.agent_id


def test_max_utilization_fills_agents_in_priority_order() -> None:
    agents = [
        agent(1, priority=3, max_load=2),
        agent(2, priority=1, max_load=3),
        agent(3, priority=2, max_load=2),
    ]
    winners, state = distribute("max_utilization", agents, 8)
    expected = [uuid.UUID(int=n) for n in (2, 2, 2, 3, 3, 1, 1)] + [None]
    assert winners == expected
    assert all(a.load == a.max_load for a in state.values())


def test_max_utilization_prefers_the_busiest_agent_of_a_priority() -> None:
    agents = [agent(1, load=1, max_load=4), agent(2, load=3, max_load=4)]
    winners, _ = distribute("max_utilization", agents, 4)
    assert winners == [uuid.UUID(int=n) for n in (2, 1, 1, 1)]


def test_random_only_ever_picks_eligible_agents_and_is_roughly_uniform() -> None:
    eligible = [agent(n, max_load=10_000) for n in range(1, 5)]
    ineligible = [
        agent(10, online=False, max_load=10_000),
        agent(11, load=3, max_load=3),
        agent(12, department_ids=frozenset({OTHER_DEPARTMENT}), max_load=10_000),
        agent(13, priority=2, max_load=10_000),
    ]
    winners, _ = distribute("random", eligible + ineligible, 1000, seed=2026)
    counts = Counter(winners)
    assert set(counts) == {a.agent_id for a in eligible}
    # 250 expected each; a fair draw stays well inside this band (about 5 standard deviations).
    assert all(180 <= n <= 320 for n in counts.values()), counts


def test_random_with_the_same_seed_draws_the_same_agents() -> None:
    agents = [agent(n, max_load=100) for n in range(1, 6)]
    assert (
        distribute("random", agents, 50, seed=3)[0] == distribute("random", agents, 50, seed=3)[0]
    )


@pytest.mark.parametrize("method", [m for m in METHODS if m != "ring_all"])
def test_every_method_respects_priorities_and_capacity(method: Method) -> None:
    agents = [
        agent(1, priority=5, max_load=2),
        agent(2, priority=1, max_load=2),
        agent(3, priority=1, max_load=1),
        agent(4, priority=9, max_load=1),
    ]
    winners, state = distribute(method, agents, 7)
    by_agent = [w.int if w else None for w in winners]
    # The priority-1 agents take the first three tickets in some order, then 5, then 9.
    assert sorted(by_agent[:3]) == [2, 2, 3]  # type: ignore[type-var]
    assert by_agent[3:] == [1, 1, 4, None]
    assert all(a.load <= a.max_load for a in state.values())


def test_every_skipped_candidate_says_why() -> None:
    candidates = [
        agent(1, department_ids=frozenset({OTHER_DEPARTMENT})),
        agent(2, online=False),
        agent(3, load=5, max_load=5),
        agent(4, priority=7),
        agent(5, load=2),
        agent(6, load=1),
    ]
    decision = choose(
        "average_utilization",
        candidates,
        department_id=DEPARTMENT,
        channel="chat",
        rng=random.Random(1),
    )
    assert decision.winner == uuid.UUID(int=6)
    verdicts = [(v.agent_id.int, v.outcome, v.skipped_because) for v in decision.verdicts]
    assert verdicts == [
        (1, "skipped", "other_department"),
        (2, "skipped", "offline"),
        (3, "skipped", "full"),
        (4, "skipped", "lower_priority"),
        (5, "not_chosen", None),
        (6, "winner", None),
    ]
    reasons = {v.agent_id.int: v.reason for v in decision.verdicts}
    assert reasons[3] == "full: 5 of 5 chat slots taken"
    assert reasons[4] == "lower priority: 7 on chat, an eligible agent has 1"
    assert reasons[6] == "least loaded: 1 of 5 slots taken"


def test_ring_all_offers_to_every_eligible_agent_of_the_best_priority() -> None:
    candidates = [agent(1), agent(2, online=False), agent(3), agent(4, priority=2)]
    decision = choose(
        "ring_all", candidates, department_id=DEPARTMENT, channel="chat", rng=random.Random(1)
    )
    assert decision.winner is None
    assert decision.offered == (uuid.UUID(int=1), uuid.UUID(int=3))
    assert [v.outcome for v in decision.verdicts] == ["offered", "skipped", "offered", "skipped"]


@pytest.mark.parametrize("method", METHODS)
def test_nobody_eligible_is_a_decision_without_a_winner(method: Method) -> None:
    candidates = [agent(1, online=False), agent(2, load=5, max_load=5)]
    decision = choose(
        method, candidates, department_id=DEPARTMENT, channel="chat", rng=random.Random(1)
    )
    assert decision.nobody
    assert all(v.outcome == "skipped" for v in decision.verdicts)


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        ("random", "eligible, not drawn"),
        ("round_robin", "eligible, not next in turn"),
        ("priority", "eligible, not next in turn"),
        (
            "average_utilization",
            "eligible, 0 of 5 slots taken: the winner was less loaded, or as loaded and next "
            "in turn",
        ),
        (
            "max_utilization",
            "eligible, 0 of 5 slots taken: the winner was busier, or as busy and next in turn",
        ),
    ],
)
def test_an_agent_not_chosen_is_told_why_in_the_method_s_terms(method: Method, reason: str) -> None:
    agents = [agent(1), agent(2)]
    decision = choose(
        method, agents, department_id=DEPARTMENT, channel="chat", rng=random.Random(3)
    )
    [loser] = [v for v in decision.verdicts if v.agent_id != decision.winner]
    assert (loser.outcome, loser.reason) == ("not_chosen", reason)
