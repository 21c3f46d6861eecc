"""The outbox relay against real PostgreSQL and the real broker."""

import asyncio
import uuid
from collections import defaultdict

import pytest
from helpdesk_events import EventProducer, OutboxRelay, add_to_outbox
from helpdesk_ticket_api.db import make_session_factory
from helpdesk_ticket_api.models import OUTBOX
from sqlalchemy import text

from tests.conftest import collect_events
from tests.events.helpers import pending, ticket_event


async def write(engine, topic, events):
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        await add_to_outbox(session, OUTBOX, topic, events)


async def test_two_relays_publish_everything_once_in_order_per_ticket(
    engine, producer, kafka_broker, topics
):
    tickets = [uuid.uuid4() for _ in range(8)]
    # Interleave versions of all tickets over many transactions.
    for version in range(1, 26):
        await write(engine, topics.tickets, [ticket_event(t, version) for t in tickets])
    relays = [OutboxRelay(engine, OUTBOX, producer, batch_size=37) for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    events = await collect_events(kafka_broker.bootstrap_servers, topics.tickets, 200)
    stop.set()
    await asyncio.gather(*tasks)

    assert len(events) == 200
    assert len({e.id for e in events}) == 200, "an event was published twice"
    versions = defaultdict(list)
    for event in events:
        versions[event.ticket_id].append(event.ticket.version)
    for ticket_id in tickets:
        assert versions[ticket_id] == list(range(1, 26)), f"out of order for {ticket_id}"
    assert await pending(engine) == 0


async def test_a_row_that_commits_late_is_still_published(engine, producer, kafka_broker, topics):
    sessions = make_session_factory(engine)
    relay = OutboxRelay(engine, OUTBOX, producer)
    late_ticket, early_ticket = uuid.uuid4(), uuid.uuid4()

    async with sessions() as slow:
        await slow.begin()
        # Takes the lower id first but commits last.
        await add_to_outbox(slow, OUTBOX, topics.tickets, [ticket_event(late_ticket, 1)])
        await write(engine, topics.tickets, [ticket_event(early_ticket, 1)])
        assert await relay.publish_batch() == 1
        await slow.commit()
    assert await relay.publish_batch() == 1

    events = await collect_events(kafka_broker.bootstrap_servers, topics.tickets, 2)
    assert {e.ticket_id for e in events} == {late_ticket, early_ticket}


async def test_rows_stay_until_the_broker_takes_them(engine, tmp_path, topics):
    """The broker dies after the relay connected: the batch fails, the rows stay, and a
    relay pointed at a live broker later publishes them."""
    from helpdesk_devstack.broker import LocalBroker, ensure_topics
    from helpdesk_devstack.ports import free_port

    broker = LocalBroker(free_port(), tmp_path / "broker.log")
    await asyncio.to_thread(broker.start)
    try:
        await ensure_topics(broker.bootstrap_servers, topics.all(), partitions=3)
        producer = EventProducer(broker.bootstrap_servers, request_timeout_ms=1500)
        await producer.start()
        await write(engine, topics.tickets, [ticket_event(uuid.uuid4(), 1)])
        await asyncio.to_thread(broker.kill)
        relay = OutboxRelay(engine, OUTBOX, producer)
        with pytest.raises(Exception):
            await asyncio.wait_for(relay.publish_batch(), timeout=20)
        assert await pending(engine) == 1
        await asyncio.to_thread(broker.start)
        await ensure_topics(broker.bootstrap_servers, topics.all(), partitions=3)
        published = 0
        for _ in range(40):
            try:
                published = await asyncio.wait_for(relay.publish_batch(), timeout=10)
            except Exception:
                await asyncio.sleep(0.25)
                continue
            if published:
                break
        assert published == 1
        assert await pending(engine) == 0
        await producer.stop()
    finally:
        await asyncio.to_thread(broker.stop)


async def test_the_relay_vacuums_the_outbox_it_empties(engine, producer, topics):
    """A queue table piles up deleted rows faster than autovacuum visits: the relay vacuums
    it after ``vacuum_every`` deletions, and its idle probe goes through the primary key."""

    async def vacuums() -> int:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    text(
                        "SELECT vacuum_count FROM pg_stat_user_tables "
                        "WHERE schemaname = 'tickets' AND relname = 'outbox'"
                    )
                )
            )

    relay = OutboxRelay(engine, OUTBOX, producer, vacuum_every=50)
    before = await vacuums()
    await write(engine, topics.tickets, [ticket_event(uuid.uuid4(), 1) for _ in range(30)])
    assert await relay.publish_batch() == 30
    assert await relay.publish_batch(probe=True) == 0
    await write(engine, topics.tickets, [ticket_event(uuid.uuid4(), 1) for _ in range(30)])
    assert await relay.publish_batch() == 30
    # Statistics reach pg_stat_user_tables with a delay of their own.
    async with asyncio.timeout(10):
        while await vacuums() != before + 1:
            await asyncio.sleep(0.1)
    assert await pending(engine) == 0
