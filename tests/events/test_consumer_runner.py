"""The consumer loop: dedupe in the handler's transaction, unknown types ignored, offsets
committed after handling, poisoned events parked — on real PostgreSQL and the real broker."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from helpdesk_events import ConsumerRunner, encode_event
from helpdesk_ticket_api.db import make_engine, make_session_factory
from helpdesk_ticket_api.models import CONSUMER
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.events.helpers import ticket_event


@pytest.fixture
async def sessions(database_url):
    engine = make_engine(database_url, pool_size=5, max_overflow=5)
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE tickets.applied (event_id uuid, version int, partition int)")
        )
    yield make_session_factory(engine)
    await engine.dispose()


async def applied(sessions) -> list[tuple[uuid.UUID, int]]:
    async with sessions() as session:
        rows = await session.execute(text("SELECT event_id, version FROM tickets.applied"))
        return [(r[0], r[1]) for r in rows]


async def on_updated(event, ctx):
    await ctx.session.execute(
        text("INSERT INTO tickets.applied VALUES (:e, :v, :p)"),
        {"e": event.id, "v": event.ticket.version, "p": ctx.record.partition},
    )
    if event.ticket.subject == "v-poison":
        raise RuntimeError("this event always fails")


def runner(kafka_broker, topics, sessions, name="test-consumer", handler=on_updated, **kwargs):
    return ConsumerRunner(
        name=name,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topics=[topics.tickets],
        handlers={"ticket.updated": handler},
        session_factory=sessions,
        tables=CONSUMER,
        retry_backoff=0.01,
        # Tansu only notices a departed member when its session times out: keep it short.
        session_timeout_ms=3000,
        heartbeat_interval_ms=200,
        **kwargs,
    )


def offline_runner(name, handler, engine, **kwargs):
    """A runner fed records by hand (handle_record); it never reaches a broker."""
    return ConsumerRunner(
        name=name,
        bootstrap_servers="127.0.0.1:1",
        topics=["t"],
        handlers={"ticket.updated": handler},
        session_factory=make_session_factory(engine),
        tables=CONSUMER,
        **kwargs,
    )


async def produce(kafka_broker, topic, payloads):
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        for key, value in payloads:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def run_until(consumer, condition, timeout=20.0):
    stop = asyncio.Event()
    await consumer.start()
    task = asyncio.create_task(consumer.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await consumer.stop()


async def test_each_event_applied_once_and_unknown_types_skipped(kafka_broker, topics, sessions):
    ticket_id = uuid.uuid4()
    events = [ticket_event(ticket_id, v) for v in range(1, 6)]
    unknown = encode_event(ticket_event(ticket_id, 99)).replace(b"ticket.updated", b"ticket.beamed")
    payloads = [(str(ticket_id).encode(), encode_event(e)) for e in events]
    # The same event delivered twice (as a producer retry would) and an unknown type.
    payloads.insert(2, payloads[1])
    payloads.append((str(ticket_id).encode(), unknown))
    await produce(kafka_broker, topics.tickets, payloads)

    async def done():
        return len(await applied(sessions)) >= 5

    await run_until(runner(kafka_broker, topics, sessions), done)
    rows = await applied(sessions)
    assert sorted(v for _, v in rows) == [1, 2, 3, 4, 5]
    assert [v for _, v in rows] == [1, 2, 3, 4, 5], "handled out of order within a partition"


async def test_offsets_are_committed_so_a_restart_resumes(kafka_broker, topics, sessions):
    ticket_id = uuid.uuid4()
    first = [ticket_event(ticket_id, v) for v in (1, 2, 3)]
    await produce(
        kafka_broker, topics.tickets, [(str(ticket_id).encode(), encode_event(e)) for e in first]
    )

    async def three():
        return len(await applied(sessions)) >= 3

    await run_until(runner(kafka_broker, topics, sessions), three)
    # Forget the dedupe rows: if the restarted consumer re-read old events, they would apply again.
    async with sessions() as session, session.begin():
        await session.execute(text("DELETE FROM tickets.processed_event"))
    second = [ticket_event(ticket_id, v) for v in (4, 5)]
    await produce(
        kafka_broker, topics.tickets, [(str(ticket_id).encode(), encode_event(e)) for e in second]
    )

    async def five():
        return len(await applied(sessions)) >= 5

    await run_until(runner(kafka_broker, topics, sessions), five)
    assert sorted(v for _, v in await applied(sessions)) == [1, 2, 3, 4, 5]


async def test_redelivery_after_a_crash_before_the_offset_commit_is_absorbed(
    kafka_broker, topics, sessions
):
    """A consumer handled events but died before committing offsets: the next one re-reads
    them, and the dedupe row written with the handler's work keeps them from applying twice."""
    ticket_id = uuid.uuid4()
    events = [ticket_event(ticket_id, v) for v in (1, 2, 3)]
    await produce(
        kafka_broker, topics.tickets, [(str(ticket_id).encode(), encode_event(e)) for e in events]
    )

    from aiokafka import AIOKafkaConsumer

    crashed = runner(kafka_broker, topics, sessions)
    raw = AIOKafkaConsumer(
        topics.tickets,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        group_id="test-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await raw.start()
    handled = 0
    async with asyncio.timeout(20):
        while handled < 3:
            for records in (await raw.getmany(timeout_ms=200)).values():
                for record in records:
                    await crashed.handle_record(record)
                    handled += 1
    await raw.stop()  # no commit: the process "died" (and its connections with it)
    await crashed.release_connections()
    assert len(await applied(sessions)) == 3

    def duplicates_skipped() -> float:
        return (
            REGISTRY.get_sample_value(
                "consumer_events_skipped_total",
                {"consumer": "test-consumer", "reason": "duplicate"},
            )
            or 0.0
        )

    before = duplicates_skipped()

    async def redelivered():
        return duplicates_skipped() - before >= 3

    await run_until(runner(kafka_broker, topics, sessions), redelivered)
    assert sorted(v for _, v in await applied(sessions)) == [1, 2, 3]


async def test_a_poisoned_event_is_parked_and_the_partition_moves_on(
    kafka_broker, topics, sessions
):
    ticket_id = uuid.uuid4()
    poison = ticket_event(ticket_id, 1).model_copy(
        update={
            "ticket": ticket_event(ticket_id, 1).ticket.model_copy(update={"subject": "v-poison"})
        }
    )
    after = ticket_event(ticket_id, 2)
    await produce(
        kafka_broker,
        topics.tickets,
        [
            (str(ticket_id).encode(), b"{this is not an event"),
            (str(ticket_id).encode(), encode_event(poison)),
            (str(ticket_id).encode(), encode_event(after)),
        ],
    )

    async def moved_on():
        return any(v == 2 for _, v in await applied(sessions))

    await run_until(runner(kafka_broker, topics, sessions, max_attempts=3), moved_on)
    async with sessions() as session:
        dead = (
            await session.execute(
                text("SELECT event_id, error FROM tickets.dead_event ORDER BY id")
            )
        ).all()
    assert len(dead) == 2
    assert dead[0].event_id is None and "undecodable" in dead[0].error
    assert dead[1].event_id == poison.id and "always fails" in dead[1].error
    # The failed attempts rolled back with their transaction: only the good event applied.
    assert [v for _, v in await applied(sessions)] == [2]


def _record(event, offset=0):
    from aiokafka.structs import ConsumerRecord

    value = encode_event(event)
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=(),
    )


@pytest.mark.parametrize("driver_transaction", [True, False])
async def test_a_failed_handler_leaves_nothing_and_the_connection_clean(
    database_url, sessions, driver_transaction
):
    """The transaction is driven on the driver connection: a failure rolls back the dedupe
    row and everything the handler wrote (through the session or the driver connection), and
    the pooled connection is not left inside it."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:

        async def handler(event, ctx):
            await ctx.session.execute(
                text("INSERT INTO tickets.applied VALUES (:e, :v, 0)"),
                {"e": event.id, "v": event.ticket.version},
            )
            driver = await ctx.driver_connection()
            await driver.execute(
                "INSERT INTO tickets.applied VALUES ($1, $2, 1)", event.id, event.ticket.version
            )
            if event.ticket.subject == "v1":
                raise RuntimeError("fails")

        consumer = offline_runner("it's-a-test", handler, engine, max_attempts=1)
        if not driver_transaction:
            consumer._engine = None  # the fallback: SQLAlchemy's own transaction
        ticket_id = uuid.uuid4()
        failing, good = ticket_event(ticket_id, 1), ticket_event(ticket_id, 2)
        await consumer.handle_record(_record(failing, 0))
        await consumer.handle_record(_record(good, 1))
        await consumer.handle_record(_record(good, 1))  # redelivered: skipped
        # The only connection, as the next event would get it (kept by the runner between
        # events; from the pool when SQLAlchemy drives the transaction).
        lease = consumer._lease() if driver_transaction else engine.connect()
        async with lease as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            in_tx = driver.is_in_transaction()
            processed, dead = [
                (
                    await conn.execute(
                        text(f"SELECT event_id FROM tickets.{table} WHERE consumer = :c"),
                        {"c": "it's-a-test"},
                    )
                )
                .scalars()
                .all()
                for table in ("processed_event", "dead_event")
            ]
        await consumer.release_connections()
    finally:
        await engine.dispose()
    assert sorted(await applied(sessions)) == [(good.id, 2), (good.id, 2)]
    assert processed == [good.id]
    assert dead == [failing.id]
    assert in_tx is False
    await consumer.stop()


async def test_tickets_are_handled_side_by_side_each_in_order(kafka_broker, topics, sessions):
    """A slow ticket does not hold up another ticket in the same partition; each ticket's own
    events still run one after the other, in offset order."""
    slow, fast = uuid.uuid4(), uuid.uuid4()
    fast_done = asyncio.Event()
    seen: list[tuple[uuid.UUID, int]] = []
    running: dict[uuid.UUID, int] = {}

    async def handler(event, ctx):
        running[event.ticket_id] = running.get(event.ticket_id, 0) + 1
        assert running[event.ticket_id] == 1, "two events of one ticket at once"
        try:
            if event.ticket_id == slow and event.ticket.version == 1:
                # Finishes only once the other ticket's events went past it.
                await asyncio.wait_for(fast_done.wait(), timeout=10)
            seen.append((event.ticket_id, event.ticket.version))
            if event.ticket_id == fast and event.ticket.version == 2:
                fast_done.set()
        finally:
            running[event.ticket_id] -= 1

    order = [(slow, 1), (fast, 1), (slow, 2), (fast, 2), (slow, 3)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        batch = producer.create_batch()
        for ticket_id, version in order:
            event = ticket_event(ticket_id, version)
            batch.append(key=str(ticket_id).encode(), value=encode_event(event), timestamp=None)
        await producer.send_batch(batch, topics.tickets, partition=0)
    finally:
        await producer.stop()
    consumer = runner(kafka_broker, topics, sessions, handler=handler)

    async def done():
        return len(seen) == len(order)

    await run_until(consumer, done)
    assert [v for t, v in seen if t == slow] == [1, 2, 3]
    assert [v for t, v in seen if t == fast] == [1, 2]
    # The fast ticket finished before the slow one's first event did.
    assert seen.index((fast, 2)) < seen.index((slow, 1))


async def _send(kafka_broker, topic, events):
    """Events to partition 0, keyed by ticket."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic, value=encode_event(event), key=str(event.ticket_id).encode(), partition=0
            )
    finally:
        await producer.stop()


async def _committed(kafka_broker, group, tp):
    """The group's committed offset, read without joining the group."""
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers, group_id=group)
    await reader.start()
    try:
        return await reader.committed(tp)
    finally:
        await reader.stop()


async def test_fetching_goes_on_while_a_ticket_is_slow_and_offsets_stop_below_it(
    kafka_broker, topics, sessions
):
    """Events fetched after a slow one are handled without waiting for it; the committed
    offset stays at the slow event until it is done, so a restart would handle it again."""
    slow, fast = uuid.uuid4(), uuid.uuid4()
    started, release = asyncio.Event(), asyncio.Event()
    seen: list[tuple[uuid.UUID, int]] = []

    async def handler(event, ctx):
        if event.ticket_id == slow:
            started.set()
            await asyncio.wait_for(release.wait(), timeout=20)
        seen.append((event.ticket_id, event.ticket.version))

    group = f"pipeline-{uuid.uuid4().hex[:6]}"
    consumer = runner(
        kafka_broker, topics, sessions, name=group, handler=handler, commit_interval=0.05
    )
    tp = TopicPartition(topics.tickets, 0)
    await _send(kafka_broker, topics.tickets, [ticket_event(slow, 1)])
    stop = asyncio.Event()
    await consumer.start()
    task = asyncio.create_task(consumer.run(stop))
    try:
        async with asyncio.timeout(20):
            await started.wait()
            # Sent only now: in a later fetch than the slow event.
            await _send(kafka_broker, topics.tickets, [ticket_event(fast, v) for v in (1, 2, 3)])
            while len(seen) < 3:
                await asyncio.sleep(0.02)
            assert seen == [(fast, 1), (fast, 2), (fast, 3)]
            await asyncio.sleep(0.3)  # several commit intervals
            assert await _committed(kafka_broker, group, tp) == 0
            release.set()
            while len(seen) < 4:
                await asyncio.sleep(0.02)
            while await _committed(kafka_broker, group, tp) != 4:
                await asyncio.sleep(0.05)
    finally:
        release.set()
        stop.set()
        await task
        await consumer.stop()
    assert seen[-1] == (slow, 1)


async def test_a_handler_can_write_the_processed_mark_itself(database_url, sessions):
    """dedupe="handler": no transaction around the handler; it gets the table, the consumer
    name and the event id, writes the mark with its outcome, and reports a duplicate."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    seen = []
    try:

        async def handler(event, ctx):
            driver = await ctx.driver_connection()
            seen.append((driver.is_in_transaction(), ctx.dedupe.consumer, ctx.dedupe.event_id))
            marked = await driver.fetchval(
                f"WITH mark AS (INSERT INTO {ctx.dedupe.table} (consumer, event_id) "
                "VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true), "
                "applied AS (INSERT INTO tickets.applied SELECT $2, $3, 0 "
                "WHERE EXISTS (SELECT FROM mark)) SELECT EXISTS (SELECT FROM mark)",
                ctx.dedupe.consumer,
                ctx.dedupe.event_id,
                event.ticket.version,
            )
            if not marked:
                ctx.duplicate()

        consumer = offline_runner("marks-itself", handler, engine, max_attempts=1, dedupe="handler")
        event = ticket_event(uuid.uuid4(), 1)
        skipped = REGISTRY.get_sample_value(
            "consumer_events_skipped_total", {"consumer": "marks-itself", "reason": "duplicate"}
        )
        await consumer.handle_record(_record(event, 0))
        await consumer.handle_record(_record(event, 0))  # redelivered
        after = REGISTRY.get_sample_value(
            "consumer_events_skipped_total", {"consumer": "marks-itself", "reason": "duplicate"}
        )
        await consumer.release_connections()
    finally:
        await engine.dispose()
    assert seen == [(False, "marks-itself", event.id)] * 2
    assert (after or 0) - (skipped or 0) == 1
    assert await applied(sessions) == [(event.id, 1)]
    with pytest.raises(ValueError, match="bound to an engine"):
        ConsumerRunner(
            name="x",
            bootstrap_servers="127.0.0.1:1",
            topics=["t"],
            handlers={},
            session_factory=async_sessionmaker(),
            tables=CONSUMER,
            dedupe="handler",
        )


@pytest.mark.parametrize("dedupe", ["runner", "handler"])
async def test_connections_the_database_dropped_are_not_reused(database_url, sessions, dedupe):
    """The runner keeps a connection per slot between events. When the database drops them
    (a restart, an administrator's pg_terminate_backend), the next event still applies at
    its first attempt that can: broken connections, kept or pooled, are not handed out."""
    engine = make_engine(database_url, pool_size=6, max_overflow=0, application_name="kept")
    running, all_in = 0, asyncio.Event()

    async def handler(event, ctx):
        nonlocal running
        if event.ticket.version == 1:  # the first four: all at once, so four are kept
            running += 1
            if running == 4:
                all_in.set()
            await all_in.wait()
        driver = await ctx.driver_connection()
        if dedupe == "handler":
            await driver.execute(
                f"INSERT INTO {ctx.dedupe.table} (consumer, event_id) VALUES ($1, $2)",
                ctx.dedupe.consumer,
                ctx.dedupe.event_id,
            )
        await driver.execute(
            "INSERT INTO tickets.applied VALUES ($1, $2, 0)", event.id, event.ticket.version
        )

    consumer = offline_runner(
        "kept-connections", handler, engine, max_attempts=2, retry_backoff=0.01, dedupe=dedupe
    )
    try:
        first = [ticket_event(uuid.uuid4(), 1) for _ in range(4)]
        await asyncio.gather(*(consumer.handle_record(_record(e, i)) for i, e in enumerate(first)))
        async with sessions() as session, session.begin():
            dropped = (
                await session.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                        "WHERE application_name = 'kept'"
                    )
                )
            ).scalar_one()
        assert dropped >= 4
        after = ticket_event(uuid.uuid4(), 2)
        await consumer.handle_record(_record(after, 4))
        async with sessions() as session:
            dead = (await session.execute(text("SELECT count(*) FROM tickets.dead_event"))).scalar()
        assert dead == 0, "an event was parked because it met broken connections"
        assert sorted(v for _, v in await applied(sessions)) == [1, 1, 1, 1, 2]
    finally:
        await consumer.stop()
        await engine.dispose()
