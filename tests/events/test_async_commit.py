"""ConsumerRunner(async_commit=True): handlers commit without waiting for the WAL flush, and
no offset is committed before the writes of the events it covers are flushed to disk.

On a cluster of its own, durable (fsync on) and with every background WAL flush pushed out
of the test's reach: the WAL writer waits 10 s between flushes, the background writer and
autovacuum are off. So nothing but a synchronous commit moves the flush position, and the
test reads it when each offset commit goes out.
"""

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from helpdesk_devstack.pytest_plugin import scratch_postgres
from helpdesk_events import ConsumerRunner, encode_event
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_ticket_api.models import CONSUMER

from tests.events.helpers import ticket_event

# A position in the WAL as a number of bytes (asyncpg has no pg_lsn codec).
INSERTED = "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"
FLUSHED = "SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn"


@pytest.fixture(scope="module")
def durable_pg():
    with scratch_postgres(
        fast=False,
        extra_settings={
            "wal_writer_delay": "'10s'",
            "wal_writer_flush_after": "'1GB'",
            "bgwriter_lru_maxpages": "0",
            "autovacuum": "off",
            "checkpoint_timeout": "'1h'",
        },
    ) as server:
        yield server


async def test_offsets_are_committed_only_after_the_wal_holding_their_events_is_flushed(
    durable_pg, kafka_broker, topics
):
    dsn = durable_pg.dsn_for(durable_pg.database)
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute(
            "DROP SCHEMA IF EXISTS tickets CASCADE; CREATE SCHEMA tickets; "
            "CREATE TABLE tickets.applied (event_id uuid PRIMARY KEY, version int)"
        )
    finally:
        await setup.close()
    engine = make_engine(durable_pg.url, application_name="test", synchronous_commit=False)
    async with engine.begin() as conn:
        await conn.run_sync(CONSUMER.processed.create)
        await conn.run_sync(CONSUMER.dead.create)
    probe = await asyncpg.connect(dsn)
    try:
        # The premise: on this cluster an asynchronous commit stays unflushed.
        async with engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            await driver.execute("INSERT INTO tickets.applied VALUES (gen_random_uuid(), 0)")
            written = await driver.fetchval(INSERTED)
        assert await probe.fetchval(FLUSHED) < written, "something else flushes the WAL"

        ticket_id = uuid.uuid4()
        events = [ticket_event(ticket_id, v) for v in range(1, 7)]
        written_at: dict[int, int] = {}  # offset -> WAL position after its commit

        async def handler(event, ctx):
            db = await ctx.driver_connection()
            await db.execute(
                f"WITH mark AS (INSERT INTO {ctx.dedupe.table} (consumer, event_id) "
                "VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true) "
                "INSERT INTO tickets.applied SELECT $2, $3 FROM mark",
                ctx.dedupe.consumer,
                ctx.dedupe.event_id,
                event.ticket.version,
            )
            written_at[ctx.record.offset] = await db.fetchval(INSERTED)

        consumer = ConsumerRunner(
            name="async-commit",
            bootstrap_servers=kafka_broker.bootstrap_servers,
            topics=[topics.tickets],
            handlers={"ticket.updated": handler},
            session_factory=make_session_factory(engine),
            tables=CONSUMER,
            session_timeout_ms=3000,
            heartbeat_interval_ms=200,
            dedupe="handler",
            async_commit=True,
        )
        commits: list[tuple[int, int]] = []  # (committed offset, WAL flushed to by then)
        kafka_commit = consumer._consumer.commit

        async def commit(offsets):
            flushed = await probe.fetchval(FLUSHED)
            commits.extend((offset, flushed) for offset in offsets.values())
            await kafka_commit(offsets)

        consumer._consumer.commit = commit
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(
                    topics.tickets, encode_event(event), key=str(ticket_id).encode()
                )
        finally:
            await producer.stop()
        stop = asyncio.Event()
        await consumer.start()
        task = asyncio.create_task(consumer.run(stop))
        try:
            async with asyncio.timeout(30):
                while not commits or max(offset for offset, _ in commits) < len(events):
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
            await consumer.stop()
        assert len(written_at) == len(events)
        for committed, flushed in commits:
            covered = [offset for offset in written_at if offset < committed]
            assert all(written_at[offset] <= flushed for offset in covered), (
                f"offset {committed} committed while the WAL was flushed only to {flushed}: "
                f"{ {o: written_at[o] for o in covered} }"
            )
    finally:
        await probe.close()
        await engine.dispose()
