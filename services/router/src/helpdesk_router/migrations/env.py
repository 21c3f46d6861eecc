"""Alembic environment of the router: schema ``routing``, its own version table."""

from helpdesk_router import models  # noqa: F401 - registers the tables
from helpdesk_router.db import SCHEMA, Base
from helpdesk_service.migrations import run_env

run_env(Base.metadata, SCHEMA)
