"""Retention: the worker forgets evaluations, processed-event marks and rule firings past
their age, in batches, on a clock the test drives; 0 keeps them for ever."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from helpdesk_events import ManualClock
from helpdesk_rule_engine.config import Settings
from helpdesk_rule_engine.retention import expiries
from helpdesk_service.db import make_engine
from helpdesk_service.retention import Pruner
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import mark_processed

AGES_DAYS = (2, 20, 40)
TABLES = ("rules.evaluation", "rules.processed_event", "rules.rule_firing")


def each_table(value: object) -> dict[str, object]:
    return dict.fromkeys(TABLES, value)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, application_name="retention-test", pool_size=2)
    yield engine
    await engine.dispose()


async def add_rows(db: AsyncEngine, clock: ManualClock, age_days: float, count: int = 1) -> None:
    """``count`` rows of each pruned table, ``age_days`` old by the clock."""
    at = clock.now() - timedelta(days=age_days)
    async with db.begin() as conn:
        for _ in range(count):
            event, ticket, correlation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                text(
                    "INSERT INTO rules.evaluation (event_id, event_type, ticket_id, "
                    "correlation_id, depth, triggers, results, evaluated_at) VALUES "
                    "(:e, 'ticket.created', :t, :c, 0, '{ticket_created}', '[]', :at)"
                ),
                {"e": event, "t": ticket, "c": correlation, "at": at},
            )
            await mark_processed(conn, "rules", "rule-engine", at, event)
            await conn.execute(
                text(
                    "INSERT INTO rules.rule_firing (rule_id, correlation_id, event_id, fired_at) "
                    "VALUES (:r, :c, :e, :at)"
                ),
                {"r": uuid.uuid4(), "c": correlation, "e": event, "at": at},
            )


async def ages(db: AsyncEngine, clock: ManualClock) -> dict[str, list[int]]:
    """The age in whole days of every row left, by table."""
    out = {}
    async with db.connect() as conn:
        for table, column in (
            ("rules.evaluation", "evaluated_at"),
            ("rules.processed_event", "processed_at"),
            ("rules.rule_firing", "fired_at"),
        ):
            rows = await conn.execute(
                text(f"SELECT extract(day FROM :now - {column})::int FROM {table} ORDER BY 1"),
                {"now": clock.now()},
            )
            out[table] = [r[0] for r in rows]
    return out


async def test_rows_past_their_tables_retention_are_removed_and_newer_ones_kept(
    db: AsyncEngine, clock: ManualClock
) -> None:
    for age in AGES_DAYS:
        await add_rows(db, clock, age)
    pruner = Pruner(db, clock, expiries(evaluations_days=30, dedupe_days=10))

    removed = await pruner.prune_once()

    assert removed == {
        "rules.evaluation": 1,
        "rules.processed_event": 2,
        "rules.rule_firing": 2,
    }
    assert await ages(db, clock) == {
        "rules.evaluation": [2, 20],
        "rules.processed_event": [2],
        "rules.rule_firing": [2],
    }
    # Time passes: the 20-day-old evaluation reaches 30 days and goes too.
    clock.advance(days=11)
    assert await pruner.prune_once() == {
        "rules.evaluation": 1,
        "rules.processed_event": 1,
        "rules.rule_firing": 1,
    }
    assert await ages(db, clock) == {
        "rules.evaluation": [13],
        "rules.processed_event": [],
        "rules.rule_firing": [],
    }


async def test_zero_keeps_rows_for_ever(db: AsyncEngine, clock: ManualClock) -> None:
    for age in AGES_DAYS:
        await add_rows(db, clock, age)
    pruner = Pruner(db, clock, expiries(evaluations_days=0, dedupe_days=0))

    assert await pruner.prune_once() == {}
    assert await ages(db, clock) == each_table([2, 20, 40])


async def test_a_backlog_larger_than_a_batch_is_removed_in_several(
    db: AsyncEngine, clock: ManualClock
) -> None:
    await add_rows(db, clock, 40, count=7)
    await add_rows(db, clock, 2, count=2)
    pruner = Pruner(db, clock, expiries(evaluations_days=30, dedupe_days=30), batch=3)

    removed = await pruner.prune_once()

    assert removed == each_table(7)
    assert await ages(db, clock) == each_table([2, 2])


async def test_the_worker_loop_prunes_at_start_and_stops_when_told(
    db: AsyncEngine, clock: ManualClock
) -> None:
    await add_rows(db, clock, 40)
    pruner = Pruner(db, clock, expiries(evaluations_days=30, dedupe_days=30), interval=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(pruner.run(stop))
    async with asyncio.timeout(30):
        while (await ages(db, clock))["rules.evaluation"]:
            await asyncio.sleep(0.01)  # waiting for the work, not for time to pass
        stop.set()
        await task  # returns at once, not after the hour
    assert await ages(db, clock) == each_table([])


async def test_a_failed_round_is_logged_and_the_loop_goes_on(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every round fails to connect.
    unreachable = make_engine(
        "postgresql+asyncpg://x:y@127.0.0.1:1/none", application_name="retention-test", pool_size=1
    )
    pruner = Pruner(
        unreachable, clock, expiries(evaluations_days=30, dedupe_days=30), interval=3600
    )
    stop = asyncio.Event()
    task = asyncio.create_task(pruner.run(stop))
    try:
        async with asyncio.timeout(30):
            while not any("pruning failed" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)
            assert not task.done()
            stop.set()
            await task
    finally:
        await unreachable.dispose()
    assert [r.levelno for r in caplog.records if "pruning failed" in r.getMessage()] == [
        logging.ERROR
    ]


def test_retention_defaults_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "EVALUATION_RETENTION_DAYS",
        "DEDUPE_RETENTION_DAYS",
        "RETENTION_INTERVAL_SECONDS",
    ):
        monkeypatch.delenv(f"RULE_ENGINE_{name}", raising=False)
    settings = Settings()
    assert (settings.evaluation_retention_days, settings.dedupe_retention_days) == (30, 30)
    assert settings.retention_interval_seconds == 3600
    monkeypatch.setenv("RULE_ENGINE_EVALUATION_RETENTION_DAYS", "7.5")
    monkeypatch.setenv("RULE_ENGINE_DEDUPE_RETENTION_DAYS", "0")
    settings = Settings()
    assert (settings.evaluation_retention_days, settings.dedupe_retention_days) == (7.5, 0)
    assert [e.keep for e in expiries(evaluations_days=7.5, dedupe_days=0)] == [
        timedelta(days=7.5),
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVALUATION_RETENTION_DAYS", "-1"),
        ("DEDUPE_RETENTION_DAYS", "a week"),
        ("RETENTION_INTERVAL_SECONDS", "0"),
    ],
)
def test_a_bad_retention_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"RULE_ENGINE_{name}", value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()
