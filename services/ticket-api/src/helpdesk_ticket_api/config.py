"""Settings for ticket-api, read from the environment (prefix ``TICKET_API_``).

``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` are shared by the whole suite and read
without the prefix; the prefixed form wins where both are set.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKET_API_", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        default="postgresql+asyncpg://helpdesk:helpdesk@127.0.0.1:55432/helpdesk",
        validation_alias=AliasChoices("TICKET_API_DATABASE_URL", "DATABASE_URL"),
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:59092",
        validation_alias=AliasChoices(
            "TICKET_API_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    # Off for the local broker (Tansu lacks it); turn on against Apache Kafka.
    kafka_enable_idempotence: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "TICKET_API_KAFKA_ENABLE_IDEMPOTENCE", "KAFKA_ENABLE_IDEMPOTENCE"
        ),
    )
    topic_prefix: str = Field(
        default="",
        validation_alias=AliasChoices("TICKET_API_TOPIC_PREFIX", "HELPDESK_TOPIC_PREFIX"),
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # The bootstrap admin key; stored hashed on start. The local stack sets dev-admin-key.
    admin_key: str | None = Field(
        default=None, validation_alias=AliasChoices("TICKET_API_ADMIN_KEY", "HELPDESK_ADMIN_KEY")
    )
    # A bootstrap key with the service role, for the suite's own services' write-backs.
    service_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TICKET_API_SERVICE_KEY", "HELPDESK_SERVICE_KEY"),
    )
    max_body_bytes: int = 1_048_576
    db_pool_size: int = 20
    db_max_overflow: int = 10
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
