"""Settings for sla-tracker, read from the environment (prefix ``SLA_TRACKER_``; the suite's
shared names such as ``DATABASE_URL`` and ``HELPDESK_SERVICE_KEY`` also unprefixed, see
helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import settings_config
from helpdesk_service.worker import WorkerSettings
from pydantic import Field


class Settings(WorkerSettings):
    model_config = settings_config("SLA_TRACKER_")

    port: int = 8003
    # How often the scanner looks for warnings and breaches that fell due: a breach is
    # published at most this long (plus the relay's delay) after its due instant.
    scan_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # For end-to-end tests only (SLA_TRACKER_UNSAFE_SCAN_AHEAD_OF_NOW=true): POST /v1/scan
    # then accepts instants after now, which fires warnings and breaches before they are
    # due. Off, a scan ahead of now is refused with 422.
    unsafe_scan_ahead_of_now: bool = False
