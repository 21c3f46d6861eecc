"""The ``scheduler`` schema's metadata; engine and sessions come from helpdesk_service.db."""

from __future__ import annotations

from helpdesk_service.db import schema_metadata
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "scheduler"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
