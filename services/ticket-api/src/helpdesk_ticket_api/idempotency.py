"""``Idempotency-Key``: a request repeated with the same key gets the first outcome again.

The key is claimed inside the request's own transaction (on its SQLAlchemy session or, for
write-backs, its asyncpg connection: the same statements). A concurrent duplicate blocks on
the key's row until the first commits, then replays its stored response; if the first
fails, its claim rolls back with it and the retry runs for real.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import orjson
from helpdesk_service.errors import Unprocessable
from helpdesk_ticket_client.actions import MAX_IDEMPOTENCY_KEY_LENGTH
from sqlalchemy.ext.asyncio import AsyncSession

MAX_KEY_LENGTH = MAX_IDEMPOTENCY_KEY_LENGTH


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


def claim_sql(rows: str) -> str:
    """The statement claiming keys: ``rows`` (a VALUES list or a SELECT) gives each one's
    principal id, key, request hash and time. A key claimed is returned, one taken is not; a
    duplicate still in flight holds the key: this waits for it."""
    return (
        "INSERT INTO tickets.idempotency_key (principal_id, key, request_hash, created_at) "
        f"{rows} ON CONFLICT DO NOTHING RETURNING key"
    )


def store_sql(principal_id: str, key: str, status_code: str, response: str) -> str:
    """The statement storing the response to replay under a key this request claimed."""
    return (
        f"UPDATE tickets.idempotency_key SET status_code = {status_code}, response = {response} "
        f"WHERE principal_id = {principal_id} AND key = {key} RETURNING true"
    )


# The same statements on the request's session (its connection, through the driver) and on
# a plain asyncpg connection: one way to claim, replay and store.
_CLAIM = claim_sql("VALUES ($1::varchar, $2::varchar, $3::varchar, $4::timestamptz)")
_STORED = (
    "SELECT request_hash, status_code, response::text AS response "
    "FROM tickets.idempotency_key WHERE principal_id = $1::varchar AND key = $2::varchar"
)
_UNCLAIM = (
    "DELETE FROM tickets.idempotency_key WHERE principal_id = $1::varchar AND key = $2::varchar"
)
_STORE = store_sql("$1::varchar", "$2::varchar", "$3::integer", "$4::jsonb")
Database: TypeAlias = AsyncSession | asyncpg.Connection


async def _fetchrow(db: Database, sql: str, *args: Any) -> Mapping[str, Any] | None:
    if isinstance(db, AsyncSession):
        connection = await db.connection()
        row = (await connection.exec_driver_sql(sql, args)).mappings().first()
        return None if row is None else dict(row)
    found: Mapping[str, Any] | None = await db.fetchrow(sql, *args)
    return found


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unprocessable(f"Idempotency-Key: give 1 to {MAX_KEY_LENGTH} characters")
    if "\x00" in key:
        # PostgreSQL's text cannot hold it.
        raise Unprocessable("Idempotency-Key: a NUL character is not allowed")


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
    db: Database, principal_id: str, key: str, digest: str, now: datetime
) -> StoredResponse | None:
    """Claim the key for this request in the caller's transaction, or return the response
    stored under it (a duplicate still in flight holds the key: this waits for it)."""
    check_key(key)
    if await _fetchrow(db, _CLAIM, principal_id, key, digest, now) is not None:
        return None
    return await stored_response(db, principal_id, key, digest)


async def stored_response(db: Database, principal_id: str, key: str, digest: str) -> StoredResponse:
    """The response stored under a key this request could not claim."""
    stored = await _fetchrow(db, _STORED, principal_id, key)
    assert stored is not None, "a key that could not be claimed is stored"
    response = stored["response"]
    return replay(
        stored["request_hash"],
        stored["status_code"],
        orjson.loads(response) if response is not None else None,
        digest,
    )


async def unclaim(conn: asyncpg.Connection, principal_id: str, key: str) -> None:
    """Give up a key this transaction claimed (its request was refused after all)."""
    await conn.execute(_UNCLAIM, principal_id, key)


def store_statement(
    principal_id: str, key: str, status_code: int, body: Any
) -> tuple[str, list[Any]]:
    """The statement storing the response to replay under a key this request claimed, and
    its arguments."""
    return _STORE, [principal_id, key, status_code, orjson.dumps(body).decode()]


async def store(db: Database, principal_id: str, key: str, status_code: int, body: Any) -> None:
    """The response to replay under a key this request claimed."""
    sql, arguments = store_statement(principal_id, key, status_code, body)
    await _fetchrow(db, sql, *arguments)
