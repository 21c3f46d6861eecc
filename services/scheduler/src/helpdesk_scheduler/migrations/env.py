"""Alembic environment of the scheduler: schema ``scheduler``, its own version table."""

from helpdesk_scheduler import models  # noqa: F401 - registers the tables
from helpdesk_scheduler.db import SCHEMA, Base
from helpdesk_service.migrations import run_env

run_env(Base.metadata, SCHEMA)
