"""``helpdesk-router serve | worker | migrate``.

``serve`` runs the admin API (policies, profiles, decisions, "next"); ``worker`` consumes
``helpdesk.tickets`` and ``helpdesk.agents`` and assigns tickets through ticket-api. Run as
many workers as the topics have partitions: decisions lock their rows in PostgreSQL.
"""

from __future__ import annotations

from typing import cast

from helpdesk_service.cli import ServiceCli
from helpdesk_service.worker import Worker, WorkerPlan, WorkerResources

from .config import Settings
from .handlers.table import handler_table
from .models import CONSUMER, OUTBOX
from .recovery import Recovery
from .retention import expiries
from .routing.distribution import Distributor


def plan_worker(resources: WorkerResources) -> WorkerPlan:
    settings = cast(Settings, resources.settings)
    recovery = Recovery(
        resources.engine, resources.ticket_api, resources.clock, settings.pending_retry_seconds
    )
    return WorkerPlan(
        topics=[resources.topics.tickets, resources.topics.agents],
        handlers=handler_table(Distributor(resources.ticket_api, topics=resources.topics)),
        expiries=expiries(
            decisions_days=settings.decision_retention_days,
            dedupe_days=settings.dedupe_retention_days,
        ),
        on_start=recovery.prepare,
        loops=[recovery.retry_stale],
    )


# The handlers write the processed mark themselves, in the short transaction that also
# holds a decision's reservation, and write back to ticket-api after it commits.
WORKER = Worker(name="router", plan=plan_worker, tables=CONSUMER, outbox=OUTBOX, dedupe="handler")
SERVICE = ServiceCli.of_package("helpdesk_router", Settings, {"worker": WORKER})
main, migrate = SERVICE.main, SERVICE.migrate

if __name__ == "__main__":
    main()
