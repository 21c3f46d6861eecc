"""A failing handler is retried after a backoff that doubles with each attempt, and the
event applies at the first attempt that succeeds (real PostgreSQL, records fed by hand)."""

import asyncio
import uuid

from helpdesk_ticket_api.db import make_engine

from tests.events.helpers import ticket_event
from tests.events.test_consumer_runner import _record, offline_runner

BACKOFF = 0.1


async def test_the_backoff_doubles_between_attempts(database_url):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    loop = asyncio.get_running_loop()
    attempts: list[float] = []

    async def handler(event, ctx):
        attempts.append(loop.time())
        if len(attempts) < 3:
            raise RuntimeError("fails twice, then applies")

    consumer = offline_runner("retries", handler, engine, max_attempts=3, retry_backoff=BACKOFF)
    try:
        await consumer.handle_record(_record(ticket_event(uuid.uuid4(), 1)))
        await consumer.release_connections()
    finally:
        await consumer.stop()
        await engine.dispose()
    assert len(attempts) == 3
    first_pause, second_pause = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_pause >= BACKOFF
    assert second_pause >= 2 * BACKOFF
