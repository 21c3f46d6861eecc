"""Alembic environment of the notifier: schema ``notify``, its own version table."""

from helpdesk_notifier import models  # noqa: F401 - registers the tables
from helpdesk_notifier.db import SCHEMA, Base
from helpdesk_service.migrations import run_env

run_env(Base.metadata, SCHEMA)
