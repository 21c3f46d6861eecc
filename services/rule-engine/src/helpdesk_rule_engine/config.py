"""Settings for rule-engine, read from the environment (prefix ``RULE_ENGINE_``; the suite's
shared names such as ``DATABASE_URL`` and ``HELPDESK_SERVICE_KEY`` also unprefixed, see
helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import ServiceSettings, settings_config
from pydantic import Field


class Settings(ServiceSettings):
    model_config = settings_config("RULE_ENGINE_")

    # ticket-api, which the worker writes back to with service_key (role service).
    ticket_api_url: str = "http://127.0.0.1:8000"
    port: int = 8001
    consumer_group: str = "rule-engine"
    # Cascades of rules triggering rules stop at this depth; the stop is recorded.
    max_depth: int = 10
    # Store the condition trace of every evaluated rule (true), or only of rules that matched
    # (false; the others are recomputed on request from the stored ticket).
    full_traces: bool = False
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
