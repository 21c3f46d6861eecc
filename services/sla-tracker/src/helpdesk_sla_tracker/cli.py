"""``helpdesk-sla-tracker serve | worker | migrate``.

``serve`` runs the admin API; ``worker`` consumes ``helpdesk.tickets`` and keeps the
tickets' response clocks. Scale workers up to the topic's partition count.
"""

from __future__ import annotations

from pathlib import Path

from helpdesk_service.cli import ServiceCli
from helpdesk_service.worker import Worker, WorkerPlan, WorkerResources

from .config import Settings
from .handlers.tickets import handlers
from .models import CONSUMER


def plan_worker(resources: WorkerResources) -> WorkerPlan:
    return WorkerPlan(topics=[resources.topics.tickets], handlers=handlers())


WORKER = Worker(name="sla-tracker", plan=plan_worker, tables=CONSUMER)
SERVICE = ServiceCli(
    name="helpdesk-sla-tracker",
    settings=Settings,
    app="helpdesk_sla_tracker.main:create_app",
    migrations=Path(__file__).resolve().parent / "migrations",
    commands={"worker": WORKER},
)
main = SERVICE.main
migrate = SERVICE.migrate

if __name__ == "__main__":
    main()
