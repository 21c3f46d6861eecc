"""``helpdesk-notifier serve | worker | migrate``.

``serve`` runs the admin API; ``worker`` consumes ``helpdesk.notifications`` (storing each
request as a delivery) and delivers what is due, side by side. Workers scale freely:
deliveries are claimed with SKIP LOCKED and a lease.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

from helpdesk_events import SystemClock
from helpdesk_service.cli import ServiceCli
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_service.worker import Worker, WorkerPlan, WorkerResources, run_worker

from .config import Settings
from .delivery.engine import DeliveryEngine
from .delivery.http import HttpSender
from .delivery.mail import MailSender
from .handlers.notifications import handlers as notification_handlers
from .handlers.tickets import handlers as ticket_handlers
from .models import CONSUMER
from .retention import expiries


def plan_worker(resources: WorkerResources) -> WorkerPlan:
    # The worker runs with this service's Settings (SERVICE below reads them).
    settings = cast(Settings, resources.settings)
    topics = resources.topics
    max_age = timedelta(hours=settings.agent_notice_max_age_hours)
    return WorkerPlan(
        topics=[topics.notifications, topics.tickets, topics.sla],
        handlers=notification_handlers()
        | ticket_handlers(resources.ticket_api, max_age, settings.push_webhook_url),
        expiries=expiries(
            deliveries_days=settings.delivery_retention_days,
            notifications_days=settings.notification_retention_days,
            dedupe_days=settings.dedupe_retention_days,
        ),
    )


CONSUMER_WORKER = Worker(name="notifier", plan=plan_worker, tables=CONSUMER)


async def run_notifier_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The ``worker`` command: the consumer and the delivery engine until ``stop``."""
    engine = make_engine(
        settings.database_url,
        application_name="notifier-delivery",
        pool_size=4,
        max_overflow=4,
    )
    http = HttpSender(
        timeout_seconds=settings.webhook_timeout_seconds,
        connections=settings.max_deliveries_in_flight,
    )
    deliveries = DeliveryEngine(
        make_session_factory(engine),
        SystemClock(),
        http=http,
        mail=MailSender(settings.smtp),
        mail_from=settings.mail_from,
        allowed_networks=settings.allowed_networks,
        endpoint_concurrency=settings.endpoint_concurrency,
        max_in_flight=settings.max_deliveries_in_flight,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
    )
    try:
        await asyncio.gather(
            run_worker(CONSUMER_WORKER, settings, stop),
            deliveries.run(stop, settings.delivery_poll_seconds),
        )
    finally:
        await http.close()
        await engine.dispose()


SERVICE = ServiceCli.of_package(
    "helpdesk_notifier",
    Settings,
    {"worker": lambda settings, stop: run_notifier_worker(cast(Settings, settings), stop)},
)
main, migrate = SERVICE.main, SERVICE.migrate

if __name__ == "__main__":
    main()
