"""Opaque cursors for keyset pagination over (timestamp, id) or (id)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Query
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

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


async def oldest_first_page(
    session: AsyncSession, model: Any, query: Select[Any], limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """A page of ``query``'s rows of ``model`` oldest first, keyset-paginated on the
    model's (created_at, id), and the cursor of the next page (None on the last)."""
    if cursor:
        at, id_ = time_id_cursor(cursor)
        query = query.where(
            or_(model.created_at > at, and_(model.created_at == at, model.id > id_))
        )
    rows = list(
        (
            await session.execute(query.order_by(model.created_at, model.id).limit(limit + 1))
        ).scalars()
    )
    next_cursor = (
        encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return rows[:limit], next_cursor


CURSOR_DESCRIPTION = (
    "Where the page starts: the `next_cursor` of the previous page, passed back unchanged "
    "(an opaque text; a page with `next_cursor: null` is the last). Leave it out for the "
    "first page. A cursor this endpoint did not return is refused with 422, code "
    "invalid_cursor."
)
# The query parameter of a paginated endpoint, documented.
Cursor = Annotated[str | None, Query(description=CURSOR_DESCRIPTION)]
