"""How the outbox relay's loop behaves over time: after idling, after errors, when lingering,
when cancelled, and what it counts. Real PostgreSQL and the real broker; the relay's own
``publish_batch`` runs, only wrapped to record when each batch started and how it ended."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from helpdesk_events import OutboxRelay, add_to_outbox, shard_of
from helpdesk_ticket_api.db import make_session_factory
from helpdesk_ticket_api.models import OUTBOX
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import collect_events
from tests.events.helpers import pending, ticket_event


async def write(engine: AsyncEngine, topic: str, count: int) -> None:
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        await add_to_outbox(
            session, OUTBOX, topic, [ticket_event(uuid.uuid4(), 1) for _ in range(count)]
        )


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@dataclass(frozen=True)
class Batch:
    started: float
    probe: bool
    # How many events went out; None when the batch raised.
    published: int | None


class BatchLog:
    """Records every batch a relay runs (its real ``publish_batch`` still does the work)."""

    def __init__(self, relay: OutboxRelay) -> None:
        self.batches: list[Batch] = []
        self.started = asyncio.Event()
        self._publish = relay.publish_batch
        self._changed = asyncio.Event()
        relay.publish_batch = self._record  # type: ignore[method-assign]

    async def _record(self, *, probe: bool = False) -> int:
        started = asyncio.get_running_loop().time()
        self.started.set()
        try:
            published = await self._publish(probe=probe)
        except Exception:
            self._add(Batch(started, probe, None))
            raise
        self._add(Batch(started, probe, published))
        return published

    def _add(self, batch: Batch) -> None:
        self.batches.append(batch)
        self._changed.set()

    async def wait_until(self, done: Callable[[list[Batch]], bool], timeout: float = 15) -> None:
        async with asyncio.timeout(timeout):
            while not done(self.batches):
                self._changed.clear()
                await self._changed.wait()

    def publishing(self) -> list[Batch]:
        return [b for b in self.batches if b.published]

    def failed(self) -> list[Batch]:
        return [b for b in self.batches if b.published is None]


async def stop_relay(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    async with asyncio.timeout(10):
        await task


async def test_an_idle_probe_sees_rows_written_after_it(engine, producer, topics):
    relay = OutboxRelay(engine, OUTBOX, producer)
    assert await relay.publish_batch(probe=True) == 0
    await write(engine, topics.tickets, 3)
    assert await relay.publish_batch(probe=True) == 3
    assert await pending(engine) == 0


async def test_a_relay_that_idled_publishes_rows_written_later(
    engine, producer, kafka_broker, topics
):
    relay = OutboxRelay(engine, OUTBOX, producer)
    log = BatchLog(relay)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        # Idle: it found nothing, and has since probed and found nothing again.
        await log.wait_until(lambda batches: sum(b.probe and b.published == 0 for b in batches) > 1)
        await write(engine, topics.tickets, 4)
        events = await collect_events(kafka_broker.bootstrap_servers, topics.tickets, 4)
    finally:
        await stop_relay(stop, task)
    assert len(events) == 4
    assert await pending(engine) == 0


async def test_cancelling_the_relay_mid_batch_ends_run(engine, producer, topics):
    await write(engine, topics.tickets, 50)
    relay = OutboxRelay(engine, OUTBOX, producer, batch_size=1)
    log = BatchLog(relay)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await log.started.wait()
    # The relay is now suspended inside the batch (waiting on PostgreSQL or the broker).
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:
        await stop_relay(stop, task)
    assert task in done, "run() went on after it was cancelled"
    assert task.cancelled()


async def test_a_failing_batch_is_retried_after_the_back_off(engine, producer, topics):
    backoff = 0.3
    failures_before = metric("outbox_publish_failures_total")
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE tickets.outbox RENAME TO outbox_away"))
    relay = OutboxRelay(engine, OUTBOX, producer, error_backoff=backoff)
    log = BatchLog(relay)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await log.wait_until(lambda batches: len(batches) >= 3)
        failed = log.failed()
        assert len(failed) == len(log.batches) >= 3
        gaps = [later.started - earlier.started for earlier, later in itertools.pairwise(failed)]
        assert min(gaps) >= backoff * 0.9, gaps
        assert metric("outbox_publish_failures_total") - failures_before == len(failed)

        # The relay survives its errors: once the table is back, it publishes.
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE tickets.outbox_away RENAME TO outbox"))
        await write(engine, topics.tickets, 2)
        await log.wait_until(lambda batches: any(b.published for b in batches))
    finally:
        await stop_relay(stop, task)
    assert await pending(engine) == 0


async def test_a_partial_batch_lingers_before_the_next(engine, producer, topics):
    linger = 0.5
    await write(engine, topics.tickets, 2)
    relay = OutboxRelay(engine, OUTBOX, producer, linger=linger)
    log = BatchLog(relay)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await log.wait_until(lambda batches: len(log.publishing()) == 1)
        await write(engine, topics.tickets, 3)
        await log.wait_until(lambda batches: len(log.publishing()) == 2)
    finally:
        await stop_relay(stop, task)
    first, second = log.publishing()
    assert (first.published, second.published) == (2, 3)
    assert second.started - first.started >= linger * 0.9


async def test_full_batches_go_out_without_lingering(engine, producer, topics):
    await write(engine, topics.tickets, 12)
    # A linger far longer than the test may take: only partial batches may wait for it.
    relay = OutboxRelay(engine, OUTBOX, producer, batch_size=5, linger=600)
    log = BatchLog(relay)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await log.wait_until(lambda batches: len(log.publishing()) == 3, timeout=20)
    finally:
        await stop_relay(stop, task)
    assert [b.published for b in log.publishing()] == [5, 5, 2]


async def test_published_events_are_counted(engine, producer, topics):
    relay = OutboxRelay(engine, OUTBOX, producer)
    before = metric("outbox_published_events_total")
    await write(engine, topics.tickets, 4)
    assert await relay.publish_batch() == 4
    assert metric("outbox_published_events_total") - before == 4
    assert await relay.publish_batch() == 0
    assert metric("outbox_published_events_total") - before == 4


async def stamp_first_row(engine: AsyncEngine, offset: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"UPDATE tickets.outbox SET created_at = now() + interval '{offset}' "
                "WHERE id = (SELECT min(id) FROM tickets.outbox)"
            )
        )


async def test_the_lag_gauge_shows_the_age_of_the_oldest_event_in_a_batch(engine, producer, topics):
    relay = OutboxRelay(engine, OUTBOX, producer)
    await write(engine, topics.tickets, 3)
    await stamp_first_row(engine, "-1 hour")
    assert await relay.publish_batch() == 3
    assert 3600 <= metric("outbox_oldest_pending_seconds") < 3660

    loop = asyncio.get_running_loop()
    began = loop.time()
    await write(engine, topics.tickets, 1)
    assert await relay.publish_batch() == 1
    # No older than the time it took to write and publish it (PostgreSQL's clock and this
    # process's are the same host's).
    assert 0 <= metric("outbox_oldest_pending_seconds") <= loop.time() - began + 0.05

    # Stamped by a clock ahead of this one: the age is never negative.
    await write(engine, topics.tickets, 1)
    await stamp_first_row(engine, "1 hour")
    assert await relay.publish_batch() == 1
    assert metric("outbox_oldest_pending_seconds") == 0


async def test_the_relay_vacuums_after_exactly_vacuum_every_deletions(engine, producer, topics):
    """VACUUM updates the table's row estimate in pg_class at once (-1: never vacuumed nor
    analyzed), unlike the statistics views, which lag."""

    async def estimated_rows() -> float:
        async with engine.connect() as conn:
            value = await conn.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = 'tickets.outbox'::regclass")
            )
            return float(value)

    relay = OutboxRelay(engine, OUTBOX, producer, vacuum_every=30)
    assert await estimated_rows() == -1
    await write(engine, topics.tickets, 29)
    assert await relay.publish_batch() == 29
    assert await estimated_rows() == -1, "vacuumed before vacuum_every deletions"
    await write(engine, topics.tickets, 1)
    assert await relay.publish_batch() == 1
    assert await estimated_rows() == 0, "not vacuumed after vacuum_every deletions"

    # The count starts again: one more deletion does not vacuum. A row the relay cannot
    # take (its shard locked here) would show in the estimate of a new VACUUM.
    parked = ticket_event(uuid.uuid4(), 1)
    other = ticket_event(uuid.uuid4(), 1)
    while shard_of(other.partition_key()) == shard_of(parked.partition_key()):
        other = ticket_event(uuid.uuid4(), 1)
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        await add_to_outbox(session, OUTBOX, topics.tickets, [parked, other])
    async with engine.connect() as holder, holder.begin():
        await holder.execute(
            text("SELECT shard FROM tickets.outbox_shard WHERE shard = :shard FOR UPDATE"),
            {"shard": shard_of(parked.partition_key())},
        )
        assert await relay.publish_batch() == 1
    assert await estimated_rows() == 0, "vacuumed again before vacuum_every deletions"


async def test_an_idle_relay_notices_new_rows_within_a_fraction_of_a_second(
    engine, producer, topics
):
    """With its default polling (every 20 ms after a batch, backing off to 50 ms), right
    after going idle and after idling a while."""
    bound = 0.75
    relay = OutboxRelay(engine, OUTBOX, producer)
    log = BatchLog(relay)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        # Right after an empty batch.
        await log.wait_until(lambda batches: len(batches) >= 1)
        await write(engine, topics.tickets, 1)
        written = asyncio.get_running_loop().time()
        await log.wait_until(lambda batches: len(log.publishing()) == 1)
        first_delay = log.publishing()[0].started - written

        # After idling long enough for the polling interval to reach its maximum.
        seen = len(log.batches)
        await log.wait_until(lambda batches: len(batches) >= seen + 8)
        await write(engine, topics.tickets, 1)
        written = asyncio.get_running_loop().time()
        await log.wait_until(lambda batches: len(log.publishing()) == 2)
        second_delay = log.publishing()[1].started - written
    finally:
        await stop_relay(stop, task)
    assert first_delay < bound
    assert second_delay < bound
