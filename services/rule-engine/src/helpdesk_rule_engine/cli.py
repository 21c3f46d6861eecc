"""``helpdesk-rule-engine serve | worker | migrate``.

``serve`` runs the admin API; ``worker`` consumes ``helpdesk.tickets`` and ``helpdesk.sla``,
writes rules' changes back to ticket-api and publishes the notifier's requests from the
outbox. Scale workers up to the topic's partition count.
"""

from __future__ import annotations

from typing import cast

from helpdesk_service.cli import ServiceCli
from helpdesk_service.worker import Worker, WorkerPlan, WorkerResources

from .config import Settings
from .handlers.tickets import RuleEngine
from .models import CONSUMER, OUTBOX
from .postgres_text import json_dumps
from .retention import expiries
from .rules.service import RuleCache


def plan_worker(resources: WorkerResources) -> WorkerPlan:
    # The worker runs with this service's Settings (SERVICE below reads them).
    settings = cast(Settings, resources.settings)
    rules = RuleEngine(
        ticket_api=resources.ticket_api,
        cache=RuleCache(resources.ticket_api),
        topics=resources.topics,
        max_depth=settings.max_depth,
        full_traces=settings.full_traces,
    )
    return WorkerPlan(
        topics=[resources.topics.tickets, resources.topics.sla],
        handlers=rules.handlers(),
        expiries=expiries(
            evaluations_days=settings.evaluation_retention_days,
            dedupe_days=settings.dedupe_retention_days,
        ),
    )


WORKER = Worker(
    name="rule-engine",
    plan=plan_worker,
    tables=CONSUMER,
    outbox=OUTBOX,
    # The handler writes the processed mark with its outcome (fewer round trips).
    dedupe="handler",
    async_commit=True,
    json_serializer=json_dumps,
)
SERVICE = ServiceCli.of_package("helpdesk_rule_engine", Settings, {"worker": WORKER})
main, migrate = SERVICE.main, SERVICE.migrate

if __name__ == "__main__":
    main()
