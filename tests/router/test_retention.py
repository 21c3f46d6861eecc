"""Retention: the worker forgets decisions, offers and processed-event marks past their age
on a clock the test drives; 0 keeps them for ever."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from helpdesk_events import ManualClock
from helpdesk_router.retention import expiries
from helpdesk_service.db import make_engine
from helpdesk_service.retention import Pruner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import mark_processed, row_counts

TABLES = ("routing.decision", "routing.offer", "routing.processed_event")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, application_name="retention-test", pool_size=2)
    yield engine
    await engine.dispose()


async def add_rows(db: AsyncEngine, clock: ManualClock, age_days: float) -> None:
    at = clock.now() - timedelta(days=age_days)
    ticket, department = uuid.uuid4(), uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO routing.decision (ticket_id, channel, method, outcome, reason, "
                "candidates, decided_at) VALUES (:t, 'chat', 'random', 'queued', '', '[]', :at)"
            ),
            {"t": ticket, "at": at},
        )
        await conn.execute(
            text(
                "INSERT INTO routing.offer (id, ticket_id, department_id, channel, agent_ids, "
                "state, offered_at, expires_at) VALUES "
                "(:id, :t, :d, 'chat', '{}', 'expired', :at, :at)"
            ),
            {"id": uuid.uuid4(), "t": ticket, "d": department, "at": at},
        )
        await mark_processed(conn, "routing", "router", at)


async def test_rows_past_their_age_are_pruned_and_younger_ones_kept(
    db: AsyncEngine, clock: ManualClock
) -> None:
    for age in (2, 40):
        await add_rows(db, clock, age)
    pruner = Pruner(db, clock, expiries(decisions_days=30, dedupe_days=30))
    assert await pruner.prune_once() == dict.fromkeys(TABLES, 1)
    assert await row_counts(db, TABLES) == dict.fromkeys(TABLES, 1)


async def test_zero_keeps_decisions_for_ever(db: AsyncEngine, clock: ManualClock) -> None:
    await add_rows(db, clock, 400)
    pruner = Pruner(db, clock, expiries(decisions_days=0, dedupe_days=30))
    await pruner.prune_once()
    assert await row_counts(db, TABLES) == {
        "routing.decision": 1,
        "routing.offer": 1,
        "routing.processed_event": 0,
    }
