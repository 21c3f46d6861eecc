"""How the router's tables store what each decision writes."""

from __future__ import annotations

from helpdesk_service.db import make_engine
from sqlalchemy import text


async def test_the_candidates_of_a_decision_are_compressed_with_lz4_where_the_server_has_it(
    database_url: str,
) -> None:
    db = make_engine(database_url, application_name="router-storage-test")
    try:
        async with db.connect() as connection:
            has_lz4 = await connection.scalar(
                text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                    "WHERE name = 'default_toast_compression'"
                )
            )
            method = await connection.scalar(
                text(
                    "SELECT attcompression::text FROM pg_attribute "
                    "WHERE attrelid = 'routing.decision'::regclass AND attname = 'candidates'"
                )
            )
    finally:
        await db.dispose()
    # 'l': lz4; a server built without it keeps the default (pglz), which leaves it empty.
    assert method == ("l" if has_lz4 else "")
