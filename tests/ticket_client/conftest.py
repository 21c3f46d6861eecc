"""ticket-api served over loopback HTTP and the rule-engine admin API, as the rule-engine
tests set them up."""

from tests.rule_engine.conftest import rule_app, rules, ticket_api_url

__all__ = ["rule_app", "rules", "ticket_api_url"]
