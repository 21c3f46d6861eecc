"""Alembic environment of ticket-api: schema ``tickets``, its own version table."""

from helpdesk_service.migrations import run_env
from helpdesk_ticket_api import models  # noqa: F401 - registers the tables
from helpdesk_ticket_api.db import SCHEMA, Base

run_env(Base.metadata, SCHEMA)
