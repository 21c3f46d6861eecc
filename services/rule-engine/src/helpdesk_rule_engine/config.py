"""Settings for rule-engine, read from the environment (prefix ``RULE_ENGINE_``; the suite's
shared names such as ``DATABASE_URL`` and ``HELPDESK_SERVICE_KEY`` also unprefixed, see
helpdesk_service.settings)."""

from __future__ import annotations

from helpdesk_service.settings import settings_config
from helpdesk_service.worker import WorkerSettings
from pydantic import Field


class Settings(WorkerSettings):
    model_config = settings_config("RULE_ENGINE_")

    port: int = 8001
    # Cascades of rules triggering rules stop at this depth; the stop is recorded.
    max_depth: int = 10
    # Store the condition trace of every evaluated rule (true), or only of rules that matched
    # (false; the others are recomputed on request from the stored ticket).
    full_traces: bool = False
    # How long the worker keeps evaluation traces, and processed-event marks with rule
    # firings (dedupe and loop guard), in days; 0 keeps them for ever. The second must
    # outlast what the broker can still deliver: the tickets topic's retention.ms plus
    # segment.ms (7 + 7 days by Kafka's defaults). See retention.py.
    evaluation_retention_days: float = Field(default=30, ge=0)
    dedupe_retention_days: float = Field(default=30, ge=0)
    # Where SLA levels named by rules are checked when a rule is saved (GET /v1/levels/{name}).
    sla_tracker_url: str = "http://127.0.0.1:8003"
