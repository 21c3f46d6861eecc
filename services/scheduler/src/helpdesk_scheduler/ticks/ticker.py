"""The ticker process: a tick every ``tick_seconds`` (each for the instant it starts at),
with what falls due in between fired at the instant it falls due; the relay that
publishes the notifier requests fired rules queued; the ledger's retention
(``retention.py``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

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
from .tick import TICK_SESSIONS, Held, Scheduler, TickRunning

log = logging.getLogger(__name__)


async def tick_until_stopped(
    scheduler: Scheduler, clock: Clock, stop: asyncio.Event, interval: float
) -> None:
    """A tick every ``interval`` seconds on ``clock``, for the instant it starts at; in
    between, what falls due before the next tick is fired at the instant it falls due.

    After its tick for ``at``, the scheduler that ticked looks ahead to ``at + interval``
    (``Scheduler.look_ahead``) and holds what falls due in that window; the loop waits on
    the clock for each instant and fires what is held for it (``Scheduler.fire_held``), then
    ticks again at ``at + interval``. A ticket is thus fired within a second of falling
    due (plus the tick's own duration for those falling due while it runs) rather than up
    to an interval later. A scheduler that found the tick taken holds nothing: the one
    that ticked does, and if it dies, its tickets are found due by the next tick (any
    scheduler's)."""
    while not stop.is_set():
        at = clock.now()
        held = Held(at, at)
        try:
            result = await scheduler.tick(at)
            log.info("tick for %s: %s fired", result.at.isoformat(), result.out()["fired"])
            held = await scheduler.look_ahead(at, at + timedelta(seconds=interval))
            log.info("holding until the next tick: %s", held.out())
        except TickRunning:
            log.info("another scheduler is ticking; skipped")
        except Exception:
            # The next tick resumes what this one left claimed.
            log.exception("tick failed")
        for instant in held.instants():
            if await _stopped_before(clock, stop, instant):
                return
            try:
                fired = await scheduler.fire_held(held, instant)
                log.info("held firings for %s: %s fired", instant.isoformat(), fired.out()["fired"])
            except Exception:
                # Claimed and unsettled rows are resumed by the next tick; unclaimed ones
                # are found due by it.
                log.exception("held firings for %s failed", instant.isoformat())
        if await _stopped_before(clock, stop, at + timedelta(seconds=interval)):
            return


async def _stopped_before(clock: Clock, stop: asyncio.Event, instant: datetime) -> bool:
    """Wait on ``clock`` until ``instant``; True when ``stop`` is set first."""
    delay = (instant - clock.now()).total_seconds()
    if delay <= 0:
        return stop.is_set()
    waits = [asyncio.ensure_future(clock.sleep(delay)), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return stop.is_set()


async def run_ticker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``ticker`` command: ticks and the outbox relay until SIGINT/SIGTERM."""
    engine = make_engine(
        settings.database_url,
        application_name="scheduler-ticker",
        # The tick's sessions, the relay's, the pruner's: a write-back in flight holds none.
        pool_size=TICK_SESSIONS + 2,
        max_overflow=0,
    )
    # The client's batch requests (four at once) and a search: a write-back in flight
    # waits in the client's queue, not for a connection of its own.
    http = ticket_api_session(settings.ticket_api_url, connections=8)
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
