"""Opaque cursors for keyset pagination over (timestamp, id) or (id)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import orjson

from .errors import Unprocessable


def encode_cursor(*parts: object) -> str:
    raw = orjson.dumps([p.isoformat() if isinstance(p, datetime) else str(p) for p in parts])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = orjson.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(parts, list) or len(parts) != n:
            raise ValueError
        return [str(p) for p in parts]
    except ValueError as exc:
        raise Unprocessable(
            "cursor: not a cursor this endpoint returned", code="invalid_cursor"
        ) from exc


def time_id_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, id_ = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), uuid.UUID(id_)
    except ValueError as exc:
        raise Unprocessable(
            "cursor: not a cursor this endpoint returned", code="invalid_cursor"
        ) from exc
