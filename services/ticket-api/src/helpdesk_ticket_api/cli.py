"""``helpdesk-ticket-api serve | relay | migrate``.

``relay`` publishes the outbox to Kafka and forgets idempotency keys past their retention."""

from __future__ import annotations

import asyncio
import logging

from helpdesk_events import EventProducer, OutboxRelay, SystemClock, start_when_reachable
from helpdesk_service import heap
from helpdesk_service.cli import ServiceCli
from helpdesk_service.retention import Expiry, Pruner, kept_for

from .config import Settings
from .db import make_engine
from .models import OUTBOX


async def run_relay(settings: Settings, stop: asyncio.Event) -> None:
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


SERVICE = ServiceCli.of_package("helpdesk_ticket_api", Settings, {"relay": run_relay})
main, migrate = SERVICE.main, SERVICE.migrate

if __name__ == "__main__":
    main()
