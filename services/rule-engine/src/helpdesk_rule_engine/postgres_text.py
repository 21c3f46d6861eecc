"""Values in the text forms PostgreSQL reads them in, for the statements the worker sends
straight to asyncpg and for the engine's JSON serializer: JSON for jsonb columns, array
literals for text[] ones."""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_dumps(value: Any) -> str:
    """JSON for JSONB columns: orjson, or the standard library for what orjson refuses
    (integers beyond 64 bits, non-string keys)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def array_element(text: str) -> str:
    """``text`` as an element of an array literal: quoted, its quotes and backslashes
    escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array_literal(elements: list[str]) -> str:
    """``{a,b,…}``: elements already quoted where they need it (``array_element``)."""
    return "{" + ",".join(elements) + "}"
