"""A failing handler is retried after a backoff that doubles with each attempt, waited on
the runner's clock, and the event applies at the first attempt that succeeds (real
PostgreSQL, records fed by hand, time moved by the test)."""

import asyncio
import uuid
from datetime import datetime, timedelta

from helpdesk_events import ManualClock
from helpdesk_ticket_api.db import make_engine

from tests.events.helpers import ticket_event
from tests.events.test_consumer_runner import _record, offline_runner

BACKOFF = 0.1


async def test_the_backoff_doubles_between_attempts(database_url):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    clock = ManualClock()
    attempts: list[datetime] = []

    async def handler(event, ctx):
        attempts.append(clock.now())
        if len(attempts) < 3:
            raise RuntimeError("fails twice, then applies")

    consumer = offline_runner(
        "retries", handler, engine, max_attempts=3, retry_backoff=BACKOFF, clock=clock
    )
    try:
        handling = asyncio.create_task(
            consumer.handle_record(_record(ticket_event(uuid.uuid4(), 1)))
        )
        while not handling.done():
            waiting = asyncio.create_task(clock.next_wake())
            await asyncio.wait([handling, waiting], return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                # Just short of the instant the runner waits for, it is still waiting.
                clock.advance(waiting.result() - clock.now() - timedelta(milliseconds=1))
                assert await clock.next_wake() == waiting.result()
                clock.set(waiting.result())
            else:
                waiting.cancel()
        await handling
        await consumer.release_connections()
    finally:
        await consumer.stop()
        await engine.dispose()
    assert len(attempts) == 3
    first_pause, second_pause = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_pause >= timedelta(seconds=BACKOFF)
    assert second_pause >= timedelta(seconds=2 * BACKOFF)
    assert (first_pause, second_pause) == (
        timedelta(seconds=BACKOFF),
        timedelta(seconds=2 * BACKOFF),
    )
