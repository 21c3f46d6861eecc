"""The outbox relay drain: preload N outbox rows, start the relay, time it until the outbox
is empty, and count what arrived in Kafka."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.cpu import CpuWindow

OUTBOX_COLUMNS = ["shard", "topic", "key", "event_type", "payload"]


async def preload(dsn: str, records: list[tuple[int, str, bytes, str, bytes]]) -> dict[str, Any]:
    """COPY the rows into tickets.outbox; returns row count and payload size figures."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.monotonic()
        await conn.copy_records_to_table(
            "outbox", schema_name="tickets", columns=OUTBOX_COLUMNS, records=records
        )
        await conn.execute("ANALYZE tickets.outbox")
        count = await conn.fetchval("SELECT count(*) FROM tickets.outbox")
    finally:
        await conn.close()
    sizes = sorted(len(r[4]) for r in records)
    return {
        "rows": count,
        "copy_s": time.monotonic() - started,
        "payload_bytes_mean": sum(sizes) / len(sizes) if sizes else 0,
        "payload_bytes_max": sizes[-1] if sizes else 0,
    }


async def watch_drain(
    dsn: str,
    expected: int,
    spawned_at: float,
    cpu: CpuWindow,
    timeout: float,
    poll: float = 0.025,
) -> dict[str, Any]:
    """Poll the outbox size until it is empty.

    The steady rate is measured from the first observed drop (the first batch committed,
    relay start-up excluded) to the moment the table is empty, over the rows deleted in
    between; CPU is taken over that same span.
    """
    conn = await asyncpg.connect(dsn)
    first_drop_at: float | None = None
    remaining_at_first_drop = expected
    remaining = expected
    timeline: list[tuple[float, int]] = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            remaining = int(await conn.fetchval("SELECT count(*) FROM tickets.outbox"))
            now = time.monotonic()
            timeline.append((round(now - spawned_at, 3), remaining))
            if first_drop_at is None and remaining < expected:
                first_drop_at = now
                remaining_at_first_drop = remaining
                cpu.start()
            if remaining == 0:
                break
            if now > deadline:
                break
            await asyncio.sleep(poll)
    finally:
        await conn.close()
    empty_at = time.monotonic()
    cpu_s = cpu.stop() if first_drop_at is not None else {}
    drained = remaining == 0
    steady_s = empty_at - first_drop_at if first_drop_at is not None else float("nan")
    return {
        "events": expected,
        "drained": drained,
        "remaining": remaining,
        "total_s_from_spawn": empty_at - spawned_at,
        "startup_s": (first_drop_at - spawned_at) if first_drop_at is not None else None,
        "steady_s": steady_s,
        "steady_events": remaining_at_first_drop,
        "events_per_s": remaining_at_first_drop / steady_s if drained and steady_s > 0 else 0.0,
        "events_per_s_from_spawn": expected / (empty_at - spawned_at) if drained else 0.0,
        "cpu_s": cpu_s,
        # Thinned timeline (seconds since the relay was spawned, rows left).
        "timeline": timeline[:: max(1, len(timeline) // 40)],
    }


async def kafka_count(
    bootstrap: str, topic: str, expected: int, timeout: float = 120.0
) -> dict[str, Any]:
    """Read the topic from the beginning, counting records and distinct event ids; stops
    once every expected event was seen, or after 3 s without a new record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        tps = [TopicPartition(topic, p) for p in partitions]
        end = await consumer.end_offsets(tps)
        begin = await consumer.beginning_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started = time.monotonic()
        last_record = started
        records = 0
        ids: set[bytes] = set()
        while time.monotonic() - started < timeout and time.monotonic() - last_record < 3.0:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for items in batch.values():
                for record in items:
                    records += 1
                    last_record = time.monotonic()
                    # Envelopes start with {"id":"<uuid>": the id is at a fixed place.
                    ids.add((record.value or b"")[7:43])
            if len(ids) >= expected:
                break
        return {
            "partitions": len(tps),
            # As the broker reports them: Tansu's end offset is the first offset of a
            # partition's last record batch, so this undercounts.
            "records_by_offsets": sum(end[tp] - begin[tp] for tp in tps),
            "records_read": records,
            "distinct_event_ids": len(ids),
            "read_s": time.monotonic() - started,
        }
    finally:
        await consumer.stop()
