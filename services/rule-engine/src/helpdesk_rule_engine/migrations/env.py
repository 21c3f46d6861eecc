"""Alembic environment of rule-engine: schema ``rules``, its own version table."""

from helpdesk_rule_engine import models  # noqa: F401 - registers the tables
from helpdesk_rule_engine.db import SCHEMA, Base
from helpdesk_service.migrations import run_env

run_env(Base.metadata, SCHEMA)
