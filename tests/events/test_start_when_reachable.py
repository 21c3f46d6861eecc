"""Starting Kafka clients before the broker is up: each start retried until it works, each
run once, and a stop request ends the wait."""

import asyncio

from aiokafka import AIOKafkaProducer
from helpdesk_events import start_when_reachable


async def test_each_client_starts_once_in_order_after_failures(kafka_broker):
    calls: list[str] = []
    failures = iter([True, True, False])

    async def flaky() -> None:
        calls.append("flaky")
        if next(failures):
            raise ConnectionError("broker not there yet")

    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)

    async def real() -> None:
        calls.append("producer")
        await producer.start()

    try:
        assert await start_when_reachable(asyncio.Event(), "test", real, flaky, retry=0.01)
    finally:
        await producer.stop()
    # The producer started once, although the client after it failed twice.
    assert calls == ["producer", "flaky", "flaky", "flaky"]


async def test_stop_ends_the_wait_for_an_unreachable_broker():
    stop = asyncio.Event()
    calls = 0

    async def unreachable() -> None:
        nonlocal calls
        calls += 1
        stop.set()  # the service is asked to stop while it waits for the broker
        raise ConnectionError("broker not there")

    # A retry interval far longer than the test: the stop request, not the timer, ends it.
    started = await asyncio.wait_for(
        start_when_reachable(stop, "test", unreachable, retry=600), timeout=10
    )
    assert started is False
    assert calls == 1
