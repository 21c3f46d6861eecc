"""ticket-api served over loopback HTTP, the rule-engine admin API and the rule handler
fed without Kafka, as the rule-engine tests set them up."""

from tests.rule_engine.conftest import (
    engine,
    full_traces,
    max_depth,
    rule_app,
    rules,
    sla_app,
    sla_tracker_url,
    ticket_api_url,
    topics,
)

__all__ = [
    "engine",
    "full_traces",
    "max_depth",
    "rule_app",
    "rules",
    "sla_app",
    "sla_tracker_url",
    "ticket_api_url",
    "topics",
]
