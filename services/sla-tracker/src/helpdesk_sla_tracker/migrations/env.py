"""Alembic environment of sla-tracker: schema ``sla``, its own version table."""

from helpdesk_service.migrations import run_env
from helpdesk_sla_tracker import models  # noqa: F401 - registers the tables
from helpdesk_sla_tracker.db import SCHEMA, Base

run_env(Base.metadata, SCHEMA)
