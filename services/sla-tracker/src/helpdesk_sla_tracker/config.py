"""Settings for sla-tracker, read from the environment (prefix ``SLA_TRACKER_``; the suite's
shared names such as ``DATABASE_URL`` and ``HELPDESK_SERVICE_KEY`` also unprefixed, see
helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import settings_config
from helpdesk_service.worker import WorkerSettings


class Settings(WorkerSettings):
    model_config = settings_config("SLA_TRACKER_")

    port: int = 8003
    consumer_group: str = "sla-tracker"
