"""The outbox tables as both services' migrations build them, checked against what the relay
relies on, written out here rather than derived from ``outbox_tables`` (which the migrations
themselves call, so comparing the two could not notice a lost constraint)."""

from __future__ import annotations

from typing import Any

import pytest
from helpdesk_events import SHARD_COUNT
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

OUTBOX_COLUMNS = {"id", "shard", "topic", "key", "event_type", "payload", "created_at"}


@pytest.fixture
async def conn(database_url):
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        yield connection
    await engine.dispose()


async def primary_key(conn, schema: str, table: str) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = CAST(:table AS regclass) AND i.indisprimary"
        ),
        {"table": f"{schema}.{table}"},
    )
    return sorted(rows.scalars())


async def column_property(conn, schema: str, table: str, attribute: str) -> dict[str, Any]:
    """One attribute of information_schema.columns (``is_nullable``, ``column_default``, ...)
    for each column of the table, by column name."""
    rows = await conn.execute(
        text(
            f"SELECT column_name, {attribute} FROM information_schema.columns"
            " WHERE table_schema = :schema AND table_name = :table"
        ),
        {"schema": schema, "table": table},
    )
    return {str(name): value for name, value in rows}


@pytest.mark.parametrize("schema", ["tickets", "rules"])
async def test_every_outbox_column_is_required(conn, schema):
    nullable = await column_property(conn, schema, "outbox", "is_nullable")
    assert set(nullable) == OUTBOX_COLUMNS
    assert {c for c, is_nullable in nullable.items() if is_nullable != "NO"} == set()


@pytest.mark.parametrize("schema", ["tickets", "rules"])
async def test_topic_and_type_names_fit_their_limits(conn, schema):
    lengths = await column_property(conn, schema, "outbox", "character_maximum_length")
    assert {name: lengths[name] for name in ("topic", "event_type")} == {
        "topic": 200,
        "event_type": 100,
    }


@pytest.mark.parametrize("schema", ["tickets", "rules"])
async def test_outbox_ids_are_a_generated_primary_key(conn, schema):
    assert await primary_key(conn, schema, "outbox") == ["id"]
    default = (await column_property(conn, schema, "outbox", "column_default"))["id"]
    assert default is not None and default.startswith("nextval(")


@pytest.mark.parametrize("schema", ["tickets", "rules"])
async def test_one_row_per_shard_keyed_by_shard(conn, schema):
    assert await primary_key(conn, schema, "outbox_shard") == ["shard"]
    # Shards are numbered by the relay's hash, never by a sequence.
    assert (await column_property(conn, schema, "outbox_shard", "column_default"))["shard"] is None
    shards = await conn.execute(text(f"SELECT shard FROM {schema}.outbox_shard ORDER BY shard"))
    assert list(shards.scalars()) == list(range(SHARD_COUNT))
