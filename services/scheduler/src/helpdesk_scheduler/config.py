"""Settings for the scheduler, read from the environment (prefix ``SCHEDULER_``; the suite's
shared names such as ``DATABASE_URL`` and ``HELPDESK_SERVICE_KEY`` also unprefixed, see
helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import settings_config
from helpdesk_service.worker import WorkerSettings
from pydantic import Field


class Settings(WorkerSettings):
    model_config = settings_config("SCHEDULER_")

    port: int = 8004
    # Where SLA levels named by time rules are checked when a rule is saved.
    sla_tracker_url: str = "http://127.0.0.1:8003"
    # How often the ticker runs a tick, in seconds.
    tick_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Tickets per search page, and write-backs in flight at once, while a tick runs. 256
    # lets the ticket client's batch requests leave full (4 at once, 64 write-backs each):
    # ticket-api and PostgreSQL spend about a third less per write-back in batches of 64
    # than of 16.
    page_size: int = Field(default=500, ge=1, le=500)
    write_backs_in_flight: int = Field(default=256, ge=1, le=256)
    # Finished ledger rows go once their episode anchor is this old (retention.py says
    # what that trades); 0 keeps them for ever. The ticker prunes every
    # ``retention_interval_seconds``.
    ledger_retention_days: float = Field(default=400, ge=0)
