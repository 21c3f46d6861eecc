"""Retention: the worker's pruner forgets finished deliveries (with their attempt log),
agent notifications and processed-event marks past their age, on a clock the test drives;
pending deliveries stay however old; 0 keeps for ever."""

from __future__ import annotations

import uuid
from datetime import timedelta

from helpdesk_events import ManualClock
from helpdesk_notifier.retention import expiries
from helpdesk_service.retention import Pruner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import insert_row, mark_processed, row_counts
from tests.notifier.conftest import store

TABLES = (
    "notify.delivery",
    "notify.delivery_attempt",
    "notify.agent_notification",
    "notify.processed_event",
)


async def add_rows(db: AsyncEngine, clock: ManualClock, age_days: float) -> None:
    """A delivered delivery with one attempt, a pending one, a notification and a
    processed-event mark, all ``age_days`` old."""
    at = clock.now() - timedelta(days=age_days)
    delivered = await store(db, clock, kind="send_email", to=["a@example.com"])
    pending = await store(db, clock, kind="send_email", to=["b@example.com"])
    async with db.begin() as conn:
        await conn.execute(
            text(
                "UPDATE notify.delivery SET created_at = :at, next_attempt_at = :at,"
                " state = CASE WHEN id = CAST(:id AS uuid) THEN 'delivered' ELSE 'pending' END,"
                " finished_at = CASE WHEN id = CAST(:id AS uuid) THEN CAST(:at AS timestamptz) END"
                " WHERE id IN (:id, :pending)"
            ),
            {"at": at, "id": delivered, "pending": pending},
        )
        await insert_row(
            conn,
            "notify.delivery_attempt",
            delivery_id=delivered,
            number=1,
            started_at=at,
            latency_ms=1.0,
        )
        await insert_row(
            conn,
            "notify.agent_notification",
            agent_id=uuid.uuid4(),
            kind="assigned",
            event_id=uuid.uuid4(),
            title="T-1 assigned",
            created_at=at,
        )
        await mark_processed(conn, "notify", "notifier", at)


async def test_finished_rows_past_their_age_are_pruned(db: AsyncEngine, clock: ManualClock) -> None:
    for age in (200, 40, 2):
        await add_rows(db, clock, age)
    assert await row_counts(db, TABLES) == {
        "notify.delivery": 6,
        "notify.delivery_attempt": 3,
        "notify.agent_notification": 3,
        "notify.processed_event": 3,
    }
    pruner = Pruner(db, clock, expiries(deliveries_days=30, notifications_days=90, dedupe_days=30))
    await pruner.prune_once()
    assert await row_counts(db, TABLES) == {
        # the two delivered ones older than 30 days go, with their attempts; the three
        # pending ones stay, however old
        "notify.delivery": 4,
        "notify.delivery_attempt": 1,
        # only the 200-day-old notification is past 90 days
        "notify.agent_notification": 2,
        "notify.processed_event": 1,
    }


async def test_zero_keeps_for_ever(db: AsyncEngine, clock: ManualClock) -> None:
    await add_rows(db, clock, 400)
    pruner = Pruner(db, clock, expiries(deliveries_days=0, notifications_days=0, dedupe_days=0))
    await pruner.prune_once()
    assert set((await row_counts(db, TABLES)).values()) == {1, 2}
