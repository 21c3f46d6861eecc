"""A service's event worker as one call: ``run_worker``.

It opens what every worker needs — the database engine, the service's one ticket-api
client, the Kafka consumer driven by ``helpdesk_events.ConsumerRunner``, the outbox relay
and the retention pruner (``retention``) — waits for the broker, runs them side by side
until ``stop`` is set (``cli`` sets it on SIGINT/SIGTERM) and closes them all. A service
declares a ``Worker`` (its tables, outbox, dedupe mode) whose ``plan`` builds the handler
table, topics and expiries (``WorkerPlan``) from the opened ``WorkerResources``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from helpdesk_events import (
    Clock,
    ConsumerRunner,
    ConsumerTables,
    EventProducer,
    Handler,
    OutboxRelay,
    OutboxTables,
    SystemClock,
    Topics,
    start_when_reachable,
)
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import heap
from .db import make_engine, make_session_factory
from .retention import Expiry, Pruner
from .settings import ServiceSettings

log = logging.getLogger(__name__)


class WorkerSettings(ServiceSettings):
    """The settings of a service with an event worker (on top of ServiceSettings)."""

    # Writes back to ticket-api with service_key (role service).
    ticket_api_url: str = "http://127.0.0.1:8000"
    # The Kafka consumer group (also the consumer's name in the processed-event table);
    # None: the worker's name ("rule-engine").
    consumer_group: str | None = None
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    # How long the broker may hold a fetch that finds no new event. Apache Kafka answers as
    # soon as an event arrives, so longer only means fewer empty answers. The local broker
    # (Tansu) looks again only every so often within this time, and each look costs it CPU:
    # an idle worker's fetches took it 65 ms of CPU per second at 20 ms, 30 at 50 ms; at
    # 200 tickets/s, 50 ms added no latency and 100 ms about 20 ms.
    kafka_fetch_max_wait_ms: int = Field(default=50, ge=1, le=10_000)
    # Events of different tickets handled at once by one worker (each holds a database
    # connection; one ticket's events always run one after the other).
    max_in_flight: int = Field(default=16, ge=1, le=64)
    # How often the worker prunes (and once at start).
    retention_interval_seconds: float = Field(default=3600, ge=1)


@dataclass(frozen=True)
class WorkerResources:
    """What run_worker opened, for the service to build its handlers with."""

    settings: WorkerSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    ticket_api: TicketApiClient
    topics: Topics
    clock: Clock


@dataclass(frozen=True)
class WorkerPlan:
    """What a service's worker consumes, with which handlers, and what it prunes."""

    topics: Sequence[str]
    handlers: Mapping[str, Handler]
    expiries: Sequence[Expiry] = ()
    # Awaited before the consumer starts (it returns early once ``stop`` is set): work
    # the handlers rely on, such as state read from ticket-api.
    on_start: Callable[[asyncio.Event], Awaitable[None]] | None = None
    # Run beside the consumer until ``stop`` is set.
    loops: Sequence[Callable[[asyncio.Event], Awaitable[None]]] = ()


@dataclass(frozen=True)
class Worker:
    """A service's event worker, declared once; ``plan`` builds the handlers from what
    run_worker opened."""

    # Names the worker's database connections and Kafka clients ("rule-engine").
    name: str
    plan: Callable[[WorkerResources], WorkerPlan]
    # The service's processed-event and dead-event tables.
    tables: ConsumerTables
    # The service's outbox, published by the worker's relay; None: no relay.
    outbox: OutboxTables | None = None
    # See ConsumerRunner: "handler" when the handlers write the processed mark themselves.
    dedupe: Literal["runner", "handler"] = "runner"
    # Offsets are committed only after one synchronous commit made the handlers' writes
    # durable, so the worker's own transactions need not wait for the WAL flush.
    async_commit: bool = False
    json_serializer: Callable[[Any], str] | None = None

    async def __call__(self, settings: WorkerSettings, stop: asyncio.Event) -> None:
        """The ``worker`` command (cli.ServiceCli)."""
        await run_worker(self, settings, stop)


async def run_worker(
    worker: Worker,
    settings: WorkerSettings,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
) -> None:
    """Consume, relay and prune until ``stop`` is set; then close everything."""
    clock = clock or SystemClock()
    engine = make_engine(
        settings.database_url,
        application_name=f"{worker.name}-worker",
        # A connection per event in flight, one for the relay, one for pruning, a couple
        # for the handlers' own reads (a rule cache …).
        pool_size=settings.max_in_flight + 4,
        max_overflow=0,
        # With async_commit nothing this process writes needs its own WAL flush: the
        # consumer flushes once before committing offsets, and the relay's deletes, if a
        # crash takes them away, only publish the rows again.
        synchronous_commit=not worker.async_commit,
        **({} if worker.json_serializer is None else {"json_serializer": worker.json_serializer}),
    )
    # One write-back per event in flight.
    http = ticket_api_session(settings.ticket_api_url, connections=settings.max_in_flight)
    resources = WorkerResources(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        ticket_api=TicketApiClient(http, settings.service_key or ""),
        topics=Topics(settings.topic_prefix),
        clock=clock,
    )
    try:
        await _consume(worker, resources, stop)
    finally:
        await http.close()
        await engine.dispose()


async def _consume(worker: Worker, resources: WorkerResources, stop: asyncio.Event) -> None:
    settings, engine, clock = resources.settings, resources.engine, resources.clock
    plan = worker.plan(resources)
    consumer = ConsumerRunner(
        name=settings.consumer_group or worker.name,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=list(plan.topics),
        handlers=plan.handlers,
        session_factory=resources.sessions,
        tables=worker.tables,
        clock=clock,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        max_in_flight=settings.max_in_flight,
        dedupe=worker.dedupe,
        async_commit=worker.async_commit,
    )
    producer = EventProducer(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id=f"{worker.name}-relay",
    )
    try:
        if plan.on_start is not None:
            await plan.on_start(stop)
            if stop.is_set():
                return
        starts = [consumer.start] if worker.outbox is None else [producer.start, consumer.start]
        await start_when_reachable(stop, f"{worker.name} worker", *starts)
        loops = [consumer.run(stop), *(loop(stop) for loop in plan.loops)]
        if worker.outbox is not None:
            loops.append(OutboxRelay(engine, worker.outbox, producer).run(stop))
        if plan.expiries:
            pruner = Pruner(
                engine, clock, plan.expiries, interval=settings.retention_interval_seconds
            )
            loops.append(pruner.run(stop))
        log.info("%s worker: consuming %s", worker.name, " and ".join(plan.topics))
        heap.settle()
        await asyncio.gather(*loops)
    finally:
        await consumer.stop()
        await producer.stop()
