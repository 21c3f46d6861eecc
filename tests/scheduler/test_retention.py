"""Ledger retention: the ticker's pruner forgets finished firings whose episode anchor is
past the retention, on a clock the test drives; claimed rows (not settled) and recent
episodes stay, and 0 keeps the ledger for ever."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from helpdesk_events import ManualClock
from helpdesk_scheduler.retention import expiries
from helpdesk_service.db import make_engine
from helpdesk_service.retention import Pruner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, application_name="ledger-retention-test", pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def rule_id(db: AsyncEngine, clock: ManualClock) -> AsyncIterator[uuid.UUID]:
    """An inactive rule of this test's own, so the ledger rows counted are only these;
    deleted (with its ledger) afterwards so no other test lists it."""
    rule = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scheduler.time_rule (id, name, active, position, conditions, "
                "actions, created_at, updated_at) VALUES "
                "(:id, 'retention test', false, 1000, CAST(:conditions AS jsonb), "
                "CAST(:actions AS jsonb), :at, :at)"
            ),
            {
                "id": rule,
                "conditions": json.dumps({"any": []}),
                "actions": json.dumps([{"type": "add_tags", "tags": ["x"]}]),
                "at": clock.now(),
            },
        )
    yield rule
    async with db.begin() as conn:
        await conn.execute(text("DELETE FROM scheduler.time_rule WHERE id = :id"), {"id": rule})


async def add_firing(
    db: AsyncEngine, now: datetime, rule: uuid.UUID, state: str, anchor_age_days: float
) -> uuid.UUID:
    """A ledger row for a new ticket whose episode began ``anchor_age_days`` before
    ``now``, fired a day after its anchor (settled unless ``claimed``)."""
    ticket = uuid.uuid4()
    anchor = now - timedelta(days=anchor_age_days)
    fired_at = anchor + timedelta(days=1)
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scheduler.firing (rule_id, ticket_id, anchor, state, tick_at, "
                "claimed_at, settled_at, outbound) VALUES "
                "(:rule, :ticket, :anchor, :state, :at, :at, :settled, '[]')"
            ),
            {
                "rule": rule,
                "ticket": ticket,
                "anchor": anchor,
                "state": state,
                "at": fired_at,
                "settled": None if state == "claimed" else fired_at,
            },
        )
    return ticket


async def ledger_of(db: AsyncEngine, rule: uuid.UUID) -> set[uuid.UUID]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text("SELECT ticket_id FROM scheduler.firing WHERE rule_id = :rule"), {"rule": rule}
        )
        return {row.ticket_id for row in rows}


async def test_old_finished_firings_go_recent_and_unfinished_ones_stay(
    db: AsyncEngine, clock: ManualClock, rule_id: uuid.UUID
) -> None:
    old_fired = await add_firing(db, clock.now(), rule_id, "fired", 500)
    old_failed = await add_firing(db, clock.now(), rule_id, "failed", 401)
    old_claimed = await add_firing(db, clock.now(), rule_id, "claimed", 500)
    recent_fired = await add_firing(db, clock.now(), rule_id, "fired", 399)
    recent_claimed = await add_firing(db, clock.now(), rule_id, "claimed", 2)

    await Pruner(db, clock, expiries(ledger_days=400)).prune_once()

    remaining = await ledger_of(db, rule_id)
    assert remaining == {old_claimed, recent_fired, recent_claimed}
    assert not {old_fired, old_failed} & remaining


async def test_the_clock_moving_on_ages_firings_out_in_batches(
    db: AsyncEngine, clock: ManualClock, rule_id: uuid.UUID
) -> None:
    fired = {await add_firing(db, clock.now(), rule_id, "fired", 10) for _ in range(5)}
    pruner = Pruner(db, clock, expiries(ledger_days=400), batch=2)

    await pruner.prune_once()
    assert await ledger_of(db, rule_id) == fired

    clock.advance(timedelta(days=391))
    await pruner.prune_once()
    assert await ledger_of(db, rule_id) == set()


async def test_zero_keeps_the_ledger_for_ever(
    db: AsyncEngine, clock: ManualClock, rule_id: uuid.UUID
) -> None:
    kept = await add_firing(db, clock.now(), rule_id, "fired", 5000)
    assert await Pruner(db, clock, expiries(ledger_days=0)).prune_once() == {}
    assert await ledger_of(db, rule_id) == {kept}
