"""``helpdesk-rule-engine serve | worker | migrate``.

``serve`` runs the admin API; ``worker`` consumes ``helpdesk.tickets`` and publishes the
notifier's requests from the outbox. Scale workers up to the topic's partition count.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from .config import Settings

HERE = Path(__file__).resolve().parent


def migrate(settings: Settings) -> None:
    from helpdesk_service.migrations import upgrade

    upgrade(HERE / "migrations", settings.database_url)


def serve(settings: Settings) -> None:
    from helpdesk_service.serve import serve as run

    run("helpdesk_rule_engine.main:create_app", settings.host, settings.port, settings.workers)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    from helpdesk_events import (
        ConsumerRunner,
        EventProducer,
        OutboxRelay,
        SystemClock,
        Topics,
        start_when_reachable,
    )
    from helpdesk_service import heap
    from helpdesk_service.db import make_engine, make_session_factory
    from helpdesk_service.retention import Pruner

    from .clients.ticket_api import TicketApiClient, ticket_api_session
    from .handlers.tickets import RuleEngine
    from .models import CONSUMER, OUTBOX
    from .postgres_text import json_dumps
    from .retention import expiries
    from .rules.service import RuleCache

    stop = stop or asyncio.Event()
    topics = Topics(settings.topic_prefix)
    engine = make_engine(
        settings.database_url,
        application_name="rule-engine-worker",
        # A connection per event in flight, one for the relay, one for pruning (retention.py),
        # a couple for the rule cache.
        pool_size=settings.max_in_flight + 4,
        max_overflow=0,
        json_serializer=json_dumps,
        # Nothing this process writes needs its own WAL flush: the consumer flushes once
        # before committing offsets (async_commit below), and the relay's deletes, if a
        # crash takes them away, only publish the rows again.
        synchronous_commit=False,
    )
    sessions = make_session_factory(engine)
    # One write-back per event in flight.
    http = ticket_api_session(settings.ticket_api_url, connections=settings.max_in_flight)
    ticket_api = TicketApiClient(http, settings.service_key or "")
    rules = RuleEngine(
        ticket_api=ticket_api,
        cache=RuleCache(ticket_api),
        topics=topics,
        max_depth=settings.max_depth,
        full_traces=settings.full_traces,
    )
    consumer = ConsumerRunner(
        name=settings.consumer_group,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=[topics.tickets, topics.sla],
        handlers=rules.handlers(),
        session_factory=sessions,
        tables=CONSUMER,
        clock=SystemClock(),
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        max_in_flight=settings.max_in_flight,
        # The handler writes the processed mark with its outcome (fewer round trips).
        dedupe="handler",
        async_commit=True,
    )
    producer = EventProducer(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="rule-engine-relay",
    )
    try:
        await start_when_reachable(stop, "rule-engine worker", producer.start, consumer.start)
        relay = OutboxRelay(engine, OUTBOX, producer)
        logging.info("rule-engine worker: consuming %s and %s", topics.tickets, topics.sla)
        pruner = Pruner(
            engine,
            SystemClock(),
            expiries(
                evaluations_days=settings.evaluation_retention_days,
                dedupe_days=settings.dedupe_retention_days,
            ),
            interval=settings.retention_interval_seconds,
        )
        heap.settle()
        await asyncio.gather(consumer.run(stop), relay.run(stop), pruner.run(stop))
    finally:
        await consumer.stop()
        await producer.stop()
        await http.close()
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="helpdesk-rule-engine")
    parser.add_argument("command", choices=["serve", "worker", "migrate"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings()
    if args.command != "migrate":
        from helpdesk_service import heap

        heap.enable()
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "serve":
        serve(settings)
    else:
        import uvloop

        async def worker() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_worker(settings, stop)

        uvloop.run(worker())


if __name__ == "__main__":
    main()
