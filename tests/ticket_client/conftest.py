"""The rule-engine admin API and the rule handler fed without Kafka, as the rule-engine
tests set them up (ticket-api served over loopback comes from tests/conftest.py)."""

from tests.rule_engine.conftest import engine, full_traces, max_depth, rule_app, rules, topics

__all__ = ["engine", "full_traces", "max_depth", "rule_app", "rules", "topics"]
