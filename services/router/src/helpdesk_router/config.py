"""Settings for the router, read from the environment (prefix ``ROUTER_``; the suite's
shared names such as ``DATABASE_URL`` and ``HELPDESK_SERVICE_KEY`` also unprefixed, see
helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import settings_config
from helpdesk_service.worker import WorkerSettings


class Settings(WorkerSettings):
    model_config = settings_config("ROUTER_")

    port: int = 8002
    consumer_group: str = "router"
