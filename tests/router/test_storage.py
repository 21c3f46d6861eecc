"""How the router's tables store what each decision writes."""

from __future__ import annotations

import pytest
from helpdesk_service.db import make_engine
from sqlalchemy import text


async def test_the_candidates_of_a_decision_are_compressed_with_lz4(database_url: str) -> None:
    db = make_engine(database_url, application_name="router-storage-test")
    try:
        async with db.connect() as connection:
            has_lz4 = await connection.scalar(
                text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                    "WHERE name = 'default_toast_compression'"
                )
            )
            if not has_lz4:
                pytest.skip("this PostgreSQL was built without lz4")
            method = await connection.scalar(
                text(
                    "SELECT attcompression::text FROM pg_attribute "
                    "WHERE attrelid = 'routing.decision'::regclass AND attname = 'candidates'"
                )
            )
    finally:
        await db.dispose()
    # 'l': lz4 (the default, pglz, leaves it empty).
    assert method == "l"
