"""``helpdesk-ticket-api serve | relay | migrate``."""

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

    run("helpdesk_ticket_api.main:create_app", settings.host, settings.port, settings.workers)


async def run_relay(settings: Settings) -> None:
    from helpdesk_events import EventProducer, OutboxRelay, SystemClock, start_when_reachable
    from helpdesk_service import heap
    from helpdesk_service.retention import Expiry, Pruner, kept_for

    from .db import make_engine
    from .models import OUTBOX

    # The relay's deletes commit without waiting for the WAL flush: if PostgreSQL crashes
    # before flushing one, its rows are published again and consumers drop the duplicates.
    engine = make_engine(
        settings.database_url,
        pool_size=3,  # two for the relay, one for pruning
        max_overflow=0,
        application_name="ticket-api-relay",
        synchronous_commit=False,
    )
    producer = EventProducer(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="ticket-api-relay",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await start_when_reachable(stop, "relay", producer.start)
    relay = OutboxRelay(
        engine,
        OUTBOX,
        producer,
        batch_size=settings.relay_batch_size,
        linger=settings.relay_linger_ms / 1000,
    )
    logging.info("relay: publishing outbox to %s", settings.kafka_bootstrap_servers)
    # The relay is ticket-api's one long-running background process: it also forgets
    # idempotency keys past their retention.
    pruner = Pruner(
        engine,
        SystemClock(),
        [
            Expiry(
                "tickets.idempotency_key",
                "created_at",
                kept_for(settings.idempotency_retention_days),
            )
        ],
        interval=settings.retention_interval_seconds,
    )
    heap.settle()
    try:
        await asyncio.gather(relay.run(stop), pruner.run(stop))
    finally:
        await producer.stop()
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="helpdesk-ticket-api")
    parser.add_argument("command", choices=["serve", "relay", "migrate"])
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

        uvloop.run(run_relay(settings))


if __name__ == "__main__":
    main()
