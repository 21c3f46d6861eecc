"""Settings for ticket-api, read from the environment (prefix ``TICKET_API_``; the suite's
shared names such as ``DATABASE_URL`` also unprefixed, see helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import ServiceSettings, settings_config
from pydantic import Field


class Settings(ServiceSettings):
    model_config = settings_config("TICKET_API_")

    port: int = 8000
    db_pool_size: int = 20
    # How long a verified API key is trusted without asking the database again.
    api_key_cache_seconds: float = 30.0
    relay_batch_size: int = 2000
    # A busy relay starts a batch at most this often (ms): fewer, larger batches for that
    # much latency. 0: back to back. (At 200 tickets/s, 50 against 20 ms cut the CPU of
    # every process on the event path by 10 %: relay, broker, consumers, PostgreSQL.)
    relay_linger_ms: float = Field(default=50.0, ge=0, le=1000)
    # How long an Idempotency-Key and its stored response are kept, in days (0: for ever);
    # a request repeated later with the same key is applied as a new one. The relay prunes
    # at start and every retention_interval_seconds. See docs/ticket-api.md.
    idempotency_retention_days: float = Field(default=7, ge=0)
    retention_interval_seconds: float = Field(default=3600, ge=1)
