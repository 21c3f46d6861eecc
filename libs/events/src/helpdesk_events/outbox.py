"""The transactional outbox: events are rows written in the same transaction as the change
they describe, and a relay publishes them to Kafka afterwards.

Ordering and safety:
- Every row belongs to one of ``SHARD_COUNT`` shards by its partition key, so all events of
  one ticket share a shard. A relay publishes a shard's rows in id order while holding that
  shard's row lock (``FOR UPDATE SKIP LOCKED``), and deletes them in the same transaction
  once Kafka acknowledged them. Several relay instances therefore never publish one ticket's
  events concurrently, and a relay killed mid-batch leaves its rows for the next attempt.
- Rows are found by "not yet deleted", never by a high-water mark, so a transaction that
  commits late with a lower id is still published.
- Per-ticket order holds because writers lock the ticket row before inserting its events:
  a later change to the same ticket gets a larger id than every earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    func,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .envelope import EventBase, encode_event
from .producer import EventProducer

log = logging.getLogger(__name__)

SHARD_COUNT = 16

OUTBOX_PUBLISHED = Counter("outbox_published_events_total", "Events the relay published")
OUTBOX_BATCH_FAILURES = Counter("outbox_publish_failures_total", "Relay batches that failed")
OUTBOX_LAG = Gauge("outbox_oldest_pending_seconds", "Age of the oldest unpublished event seen")


@dataclass(frozen=True)
class OutboxTables:
    outbox: Table
    shards: Table


def outbox_tables(metadata: MetaData) -> OutboxTables:
    """Declare the outbox tables in a service's metadata (and so in its schema)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("shard", SmallInteger, nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Index(f"ix_{outbox.name}_shard_id", outbox.c.shard, outbox.c.id)
    shards = Table(
        "outbox_shard",
        metadata,
        Column("shard", SmallInteger, primary_key=True, autoincrement=False),
    )
    return OutboxTables(outbox=outbox, shards=shards)


def shard_of(key: bytes) -> int:
    return zlib.crc32(key) % SHARD_COUNT


def outbox_rows(topic: str, events: Sequence[EventBase]) -> list[dict[str, object]]:
    rows = []
    for event in events:
        key = event.partition_key()
        rows.append(
            {
                "shard": shard_of(key),
                "topic": topic,
                "key": key,
                "event_type": event.type,
                "payload": encode_event(event),
            }
        )
    return rows


async def add_to_outbox(
    session: AsyncSession, tables: OutboxTables, topic: str, events: Sequence[EventBase]
) -> None:
    """Queue events for publishing; they go out only if the surrounding transaction commits."""
    if events:
        await session.execute(insert(tables.outbox), outbox_rows(topic, events))


@dataclass(eq=False)
class OutboxRelay:
    """Publishes committed outbox rows to Kafka, in order per partition key."""

    engine: AsyncEngine
    tables: OutboxTables
    producer: EventProducer
    _: KW_ONLY
    batch_size: int = 2000
    idle_interval: float = 0.02
    max_idle_interval: float = 0.05
    error_backoff: float = 0.5
    # A queue table: every row is inserted and deleted once. Vacuumed by the relay after
    # this many deletions, so its scans stay short between autovacuum's visits (a minute
    # apart by default).
    vacuum_every: int = 2_000
    # After a batch smaller than batch_size, the next starts no sooner than this long after
    # it started: a busy relay then publishes fewer, larger batches (each costs five round
    # trips, a commit and a produce request) at the price of that much latency.
    linger: float = 0.0

    def __post_init__(self) -> None:
        schema = self.tables.outbox.schema
        prefix = f'"{schema}".' if schema else ""
        # Plain SQL on the driver connection: a relay runs these statements dozens of times
        # a second, and SQLAlchemy's per-statement cost was most of the relay's CPU.
        self._lock_shards = f"SELECT shard FROM {prefix}outbox_shard FOR UPDATE SKIP LOCKED"
        # A statement of its own, after the locks: its snapshot then sees every row the
        # shards' previous holder committed or deleted.
        self._select = (
            f"SELECT id, topic, key, payload, created_at FROM {prefix}outbox "
            "WHERE shard = ANY($1::smallint[]) ORDER BY id LIMIT $2"
        )
        self._delete = f"DELETE FROM {prefix}outbox WHERE id = ANY($1::bigint[])"
        # Through the primary key: a sequential scan would read every page the deleted rows
        # still occupy (a busy outbox piles up thousands before autovacuum comes by).
        self._probe = f"SELECT id FROM {prefix}outbox ORDER BY id LIMIT 1"
        self._vacuum = f"VACUUM {prefix}outbox"
        self._deleted_since_vacuum = 0

    async def publish_batch(self, *, probe: bool = False) -> int:
        """Publish one batch; returns how many events went out (0 when idle).

        ``probe``: first look whether there is anything at all, in one statement outside a
        transaction (an idle relay polls often; a batch costs five round trips)."""
        async with self.engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            if probe and await driver.fetchval(self._probe) is None:
                return 0
            async with driver.transaction():
                published = await self._publish(driver)
            self._deleted_since_vacuum += published
            if self._deleted_since_vacuum >= self.vacuum_every:
                self._deleted_since_vacuum = 0
                try:
                    await driver.execute(self._vacuum)
                except asyncpg.PostgresError as exc:  # e.g. not the table's owner
                    log.warning("outbox relay: VACUUM failed (%s); autovacuum will do it", exc)
        if published:
            OUTBOX_PUBLISHED.inc(published)
        return published

    async def _publish(self, driver: Any) -> int:
        shards = [row[0] for row in await driver.fetch(self._lock_shards)]
        if not shards:
            return 0
        rows = await driver.fetch(self._select, shards, self.batch_size)
        if not rows:
            return 0
        OUTBOX_LAG.set(max(0.0, (datetime.now(UTC) - rows[0]["created_at"]).total_seconds()))
        await self.producer.send_many(
            [(row["topic"], bytes(row["key"]), bytes(row["payload"])) for row in rows]
        )
        await driver.execute(self._delete, [row["id"] for row in rows])
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        idle = self.idle_interval
        published = 1
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            try:
                # After an empty batch, probe before taking shard locks.
                published = await self.publish_batch(probe=published == 0)
            except asyncio.CancelledError:
                raise
            except Exception:
                OUTBOX_BATCH_FAILURES.inc()
                log.exception("outbox relay: batch failed; retrying")
                await _wait(stop, self.error_backoff)
                continue
            if published:
                idle = self.idle_interval
                pause = started + self.linger - loop.time()
                if published < self.batch_size and pause > 0:
                    await _wait(stop, pause)
                continue
            await _wait(stop, idle)
            idle = min(idle * 2, self.max_idle_interval)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
