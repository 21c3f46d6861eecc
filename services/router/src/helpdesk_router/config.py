"""Settings for the router, read from the environment (prefix ``ROUTER_``; the suite's
shared names such as ``DATABASE_URL`` and ``HELPDESK_SERVICE_KEY`` also unprefixed, see
helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import settings_config
from helpdesk_service.worker import WorkerSettings
from pydantic import Field


class Settings(WorkerSettings):
    model_config = settings_config("ROUTER_")

    port: int = 8002
    # How long the worker keeps routing decisions and processed-event marks, in days; 0
    # keeps them for ever (retention.py).
    decision_retention_days: float = Field(default=30, ge=0)
    dedupe_retention_days: float = Field(default=30, ge=0)
    # How often each API process expires ring-all offers whose time is up, in seconds; 0
    # leaves it to POST /v1/offers/expire.
    offer_check_seconds: float = Field(default=1.0, ge=0)
    # How often the worker writes back again the assignments reserved longer ago than this
    # whose write-back was never answered (recovery.py), in seconds.
    pending_retry_seconds: float = Field(default=30.0, gt=0)
