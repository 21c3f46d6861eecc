"""``Idempotency-Key``: a request repeated with the same key gets the first outcome again.

The key is claimed inside the request's own transaction. A concurrent duplicate blocks on
the key's row until the first commits, then replays its stored response; if the first
fails, its claim rolls back with it and the retry runs for real. The write-back fast path
(tickets/writeback.py) has no transaction to claim in: it stores the key and its response
with its one write statement, and a duplicate that finds the key taken there writes
nothing and replays.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from helpdesk_service.errors import Unprocessable
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import IdempotencyRecord

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any


def request_hash(path: str, body: Any) -> str:
    try:
        encoded = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        # A value orjson cannot encode (an integer beyond 64 bits): the request is still the
        # client's to validate, so hash it another deterministic way.
        encoded = json.dumps(body, sort_keys=True, default=str).encode()
    return hashlib.sha256(path.encode() + b"\0" + encoded).hexdigest()


_RECORDS: Table = IdempotencyRecord.__table__  # type: ignore[assignment]
# Built once: constructing a statement costs more than running it through the cache.
_CLAIM = (
    pg_insert(_RECORDS)
    .values(
        principal_id=bindparam("b_principal_id"),
        key=bindparam("b_key"),
        request_hash=bindparam("b_request_hash"),
        created_at=bindparam("b_created_at"),
    )
    .on_conflict_do_nothing()
    .returning(_RECORDS.c.key)
)
_STORED = select(_RECORDS.c.request_hash, _RECORDS.c.status_code, _RECORDS.c.response).where(
    _RECORDS.c.principal_id == bindparam("b_principal_id"), _RECORDS.c.key == bindparam("b_key")
)
_STORE = (
    update(_RECORDS)
    .where(
        _RECORDS.c.principal_id == bindparam("b_principal_id"), _RECORDS.c.key == bindparam("b_key")
    )
    .values(status_code=bindparam("b_status_code"), response=bindparam("b_response"))
)


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unprocessable(f"Idempotency-Key: give 1 to {MAX_KEY_LENGTH} characters")


def replay(
    request_hash: str, status_code: int | None, response: Any, digest: str
) -> StoredResponse:
    """The response stored under a key, if it was stored for this request (``digest``)."""
    if request_hash != digest:
        raise Unprocessable(
            "Idempotency-Key was already used for a different request; use a new key",
            code="idempotency_key_reused",
        )
    return StoredResponse(status_code or 200, response)


async def claim(
    session: AsyncSession, principal_id: str, key: str, digest: str, now: datetime
) -> StoredResponse | None:
    """Claim the key for this request, or return the response stored under it."""
    check_key(key)
    ids = {"b_principal_id": principal_id, "b_key": key}
    inserted = await session.execute(_CLAIM, {**ids, "b_request_hash": digest, "b_created_at": now})
    if inserted.first() is not None:
        return None
    stored = (await session.execute(_STORED, ids)).one()
    return replay(stored.request_hash, stored.status_code, stored.response, digest)


async def store(
    session: AsyncSession, principal_id: str, key: str, status_code: int, body: Any
) -> None:
    await session.execute(
        _STORE,
        {
            "b_principal_id": principal_id,
            "b_key": key,
            "b_status_code": status_code,
            "b_response": body,
        },
    )


def record_sql(values: str) -> str:
    """An INSERT of a key with its response in one go, for a request that writes everything
    in one statement (``values``: a query giving principal id, key, request hash, created
    at, status code, response); no row returned: the key was taken meanwhile."""
    return (
        "INSERT INTO tickets.idempotency_key "
        "(principal_id, key, request_hash, created_at, status_code, response) "
        f"{values} ON CONFLICT DO NOTHING RETURNING true"
    )
