"""The pure parts of a firing: its idempotency key, and the reasons a preview gives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from helpdesk_conditions import compile_python
from helpdesk_scheduler.ticks.episodes import FIRING_PRECISION, due_reasons, falls_due, firing_key

from tests.events.helpers import snapshot
from tests.scheduler.conftest import all_of, cond

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_the_firing_key_names_the_episode_anchor_in_epoch_microseconds() -> None:
    rule_id, ticket_id = uuid.uuid4(), uuid.uuid4()
    anchor = datetime(2026, 3, 1, 8, 30, 0, 250_000, tzinfo=UTC)
    # The documented format: receivers of the write-back (and the ledger) read it as such.
    assert firing_key(rule_id, ticket_id, anchor) == f"{rule_id}:{ticket_id}:1772353800250000"


def test_only_relative_time_conditions_are_reasons() -> None:
    created = AT - timedelta(days=3)
    conditions = compile_python(
        all_of(
            cond("created_at", "older_than", 2, unit="days"),
            # An absolute date comparison holds too, but it is no "how long" reason.
            cond("updated_at", "after", (AT - timedelta(days=30)).isoformat()),
        )
    )
    ticket = snapshot(created, updated_at=AT - timedelta(days=1))
    reasons = due_reasons(conditions, ticket, AT)
    assert [(r["field"], r["op"]) for r in reasons] == [("created_at", "older_than")]
    assert reasons[0]["text"] == "created_at older_than 2 days: 3.0 days ago"


def test_a_reason_in_minutes_counts_minutes() -> None:
    conditions = compile_python(all_of(cond("created_at", "older_than", 30, unit="minutes")))
    ticket = snapshot(AT - timedelta(minutes=45, seconds=20))
    [reason] = due_reasons(conditions, ticket, AT)
    # One decimal, in the reason's data as in its text.
    assert reason["elapsed_minutes"] == 45.3
    assert reason["text"] == "created_at older_than 30 minutes: 45.3 minutes ago"


def test_falls_due_finds_the_instant_within_a_second_and_never_before() -> None:
    conditions = compile_python(all_of(cond("created_at", "older_than", 10, unit="minutes")))
    created = AT - timedelta(minutes=9, seconds=17, microseconds=300)
    due_at = created + timedelta(minutes=10)
    until = AT + timedelta(minutes=1)
    instant = falls_due(conditions, snapshot(created), AT, until)
    assert instant is not None
    assert due_at < instant <= due_at + FIRING_PRECISION
    assert conditions.matches(snapshot(created), None, instant)
    # Due already at the window's start: right away; due after its end: not in it.
    assert falls_due(conditions, snapshot(AT - timedelta(hours=1)), AT, until) == AT
    assert falls_due(conditions, snapshot(AT - timedelta(minutes=5)), AT, until) is None
