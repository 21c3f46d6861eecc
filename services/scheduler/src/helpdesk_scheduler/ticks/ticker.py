"""The ticker process: a tick every ``tick_seconds`` (each for the instant it starts at),
the relay that publishes the notifier requests fired rules queued, and the ledger's
retention (``retention.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from helpdesk_events import (
    Clock,
    EventProducer,
    OutboxRelay,
    SystemClock,
    Topics,
    start_when_reachable,
)
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_service.retention import Pruner
from helpdesk_ticket_client import TicketApiClient, ticket_api_session

from ..config import Settings
from ..models import OUTBOX
from ..retention import expiries
from .tick import Scheduler, TickRunning

log = logging.getLogger(__name__)


async def tick_until_stopped(
    scheduler: Scheduler, clock: Clock, stop: asyncio.Event, interval: float
) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        try:
            result = await scheduler.tick(clock.now())
            log.info("tick for %s: %s fired", result.at.isoformat(), result.out()["fired"])
        except TickRunning:
            log.info("another scheduler is ticking; skipped")
        except Exception:
            # The next tick resumes what this one left claimed.
            log.exception("tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, interval - (loop.time() - started)))


async def run_ticker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``ticker`` command: ticks and the outbox relay until SIGINT/SIGTERM."""
    engine = make_engine(
        settings.database_url,
        application_name="scheduler-ticker",
        # The tick lock, the relay, the pruner, one per write-back in flight.
        pool_size=settings.write_backs_in_flight + 3,
        max_overflow=0,
    )
    http = ticket_api_session(settings.ticket_api_url, connections=settings.write_backs_in_flight)
    scheduler = Scheduler(
        engine,
        make_session_factory(engine),
        TicketApiClient(http, settings.service_key or ""),
        Topics(settings.topic_prefix),
        page_size=settings.page_size,
        write_backs_in_flight=settings.write_backs_in_flight,
    )
    producer = EventProducer(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="scheduler-relay",
    )

    async def relay() -> None:
        # Ticks do not wait for the broker: what they queue is published once it is there.
        if await start_when_reachable(stop, "scheduler relay", producer.start):
            await OutboxRelay(engine, OUTBOX, producer).run(stop)

    clock = SystemClock()
    pruner = Pruner(
        engine,
        clock,
        expiries(ledger_days=settings.ledger_retention_days),
        interval=settings.retention_interval_seconds,
    )
    try:
        await asyncio.gather(
            tick_until_stopped(scheduler, clock, stop, settings.tick_seconds),
            relay(),
            pruner.run(stop),
        )
    finally:
        await producer.stop()
        await http.close()
        await engine.dispose()
