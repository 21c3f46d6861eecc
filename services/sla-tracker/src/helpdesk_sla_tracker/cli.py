"""``helpdesk-sla-tracker serve | worker | scanner | migrate``.

``serve`` runs the admin API; ``worker`` consumes ``helpdesk.tickets``, keeps the tickets'
response clocks and publishes this service's outbox (``sla.warning``, ``sla.breached``) to
``helpdesk.sla``; ``scanner`` fires warnings and breaches as they fall due (several may run:
each clock fires once) and writes the tickets' SLA states back to ticket-api. Scale workers
up to the topic's partition count.
"""

from __future__ import annotations

import asyncio

from helpdesk_events import SystemClock, Topics
from helpdesk_service.cli import ServiceCli
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_service.worker import Worker, WorkerPlan, WorkerResources
from helpdesk_ticket_client import TicketApiClient, ticket_api_session

from .breaches.scan import scan_until_stopped
from .config import Settings
from .handlers.tickets import handlers
from .models import CONSUMER, OUTBOX


def plan_worker(resources: WorkerResources) -> WorkerPlan:
    return WorkerPlan(topics=[resources.topics.tickets], handlers=handlers())


async def run_scanner(settings: Settings, stop: asyncio.Event) -> None:
    engine = make_engine(
        settings.database_url, application_name="sla-tracker-scanner", pool_size=2, max_overflow=0
    )
    http = ticket_api_session(settings.ticket_api_url)
    try:
        await scan_until_stopped(
            make_session_factory(engine),
            Topics(settings.topic_prefix),
            TicketApiClient(http, settings.service_key or ""),
            SystemClock(),
            stop,
            settings.scan_interval_seconds,
        )
    finally:
        await http.close()
        await engine.dispose()


WORKER = Worker(name="sla-tracker", plan=plan_worker, tables=CONSUMER, outbox=OUTBOX)
SERVICE = ServiceCli.of_package(
    "helpdesk_sla_tracker", Settings, {"worker": WORKER, "scanner": run_scanner}
)
main, migrate = SERVICE.main, SERVICE.migrate

if __name__ == "__main__":
    main()
