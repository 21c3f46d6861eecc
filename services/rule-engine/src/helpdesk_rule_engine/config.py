"""Settings for rule-engine, read from the environment (prefix ``RULE_ENGINE_``).

``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS`` and the ``HELPDESK_*`` keys are shared by the
suite and read without the prefix; the prefixed form wins where both are set.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _shared(name: str) -> AliasChoices:
    return AliasChoices(f"RULE_ENGINE_{name}", name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RULE_ENGINE_", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        default="postgresql+asyncpg://helpdesk:helpdesk@127.0.0.1:55432/helpdesk",
        validation_alias=_shared("DATABASE_URL"),
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:59092", validation_alias=_shared("KAFKA_BOOTSTRAP_SERVERS")
    )
    kafka_enable_idempotence: bool = Field(
        default=False, validation_alias=_shared("KAFKA_ENABLE_IDEMPOTENCE")
    )
    topic_prefix: str = Field(
        default="",
        validation_alias=AliasChoices("RULE_ENGINE_TOPIC_PREFIX", "HELPDESK_TOPIC_PREFIX"),
    )
    ticket_api_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("RULE_ENGINE_TICKET_API_URL", "HELPDESK_TICKET_API_URL"),
    )
    # The key rule-engine writes back with (role service).
    service_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RULE_ENGINE_SERVICE_KEY", "HELPDESK_SERVICE_KEY"),
    )
    admin_key: str | None = Field(
        default=None, validation_alias=AliasChoices("RULE_ENGINE_ADMIN_KEY", "HELPDESK_ADMIN_KEY")
    )
    host: str = "127.0.0.1"
    port: int = 8001
    # HTTP worker processes of `serve` (not the event consumers of `worker`).
    workers: int = 1
    consumer_group: str = "rule-engine"
    # Cascades of rules triggering rules stop at this depth; the stop is recorded.
    max_depth: int = 10
    # Store the condition trace of every evaluated rule (true), or only of rules that matched
    # (false; the others are recomputed on request from the stored ticket).
    full_traces: bool = False
    max_body_bytes: int = 1_048_576
    db_pool_size: int = 10
    db_max_overflow: int = 10
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    # How long the broker may hold a fetch that finds no new event. Apache Kafka answers as
    # soon as an event arrives, so longer only means fewer empty answers. The local broker
    # (Tansu) looks again only every so often within this time, and each look costs it CPU:
    # an idle worker's fetches took it 65 ms of CPU per second at 20 ms, 30 at 50 ms; at
    # 200 tickets/s, 50 ms added no latency and 100 ms about 20 ms.
    kafka_fetch_max_wait_ms: int = Field(default=50, ge=1, le=10_000)
    # Events of different tickets evaluated at once by one worker (each holds a database
    # connection; one ticket's events always run one after the other).
    max_in_flight: int = Field(default=16, ge=1, le=64)
    # How long the worker keeps evaluation traces, and processed-event marks with rule
    # firings (dedupe and loop guard), in days; 0 keeps them for ever. The second must
    # outlast what the broker can still deliver: the tickets topic's retention.ms plus
    # segment.ms (7 + 7 days by Kafka's defaults). See retention.py.
    evaluation_retention_days: float = Field(default=30, ge=0)
    dedupe_retention_days: float = Field(default=30, ge=0)
    # How often the worker prunes (and once at start).
    retention_interval_seconds: float = Field(default=3600, ge=1)
