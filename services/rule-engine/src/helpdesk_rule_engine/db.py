"""The ``rules`` schema's metadata; engine and sessions come from helpdesk_service.db."""

from __future__ import annotations

import json
from typing import Any

import orjson
from helpdesk_service.db import schema_metadata
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "rules"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


def json_dumps(value: Any) -> str:
    """JSON for JSONB columns: orjson, or the standard library for what orjson refuses
    (integers beyond 64 bits, non-string keys)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))
