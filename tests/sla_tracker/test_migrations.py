"""The sla schema's migrations: the models declare what they build, and they go down to
nothing and up again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from helpdesk_devstack.postgres import LocalPostgres
from helpdesk_sla_tracker import models
from helpdesk_sla_tracker.cli import SERVICE, migrate
from helpdesk_sla_tracker.config import Settings
from helpdesk_sla_tracker.db import SCHEMA, Base
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.fixture
async def fresh_url(pg_server: LocalPostgres) -> AsyncIterator[str]:
    name = f"mig_sla_{uuid.uuid4().hex[:10]}"
    await pg_server.create_database(name)
    yield pg_server.url_for(name)
    await pg_server.drop_database(name)


async def tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                {"schema": SCHEMA},
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def test_the_models_match_what_the_migrations_build(fresh_url: str) -> None:
    assert models.Calendar.metadata is Base.metadata
    await asyncio.to_thread(migrate, Settings(database_url=fresh_url))

    def include(name: str | None, kind: str, parent_names: object) -> bool:
        if kind == "schema":
            return name == SCHEMA
        return not (kind == "table" and name == "alembic_version")

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={"include_schemas": True, "include_name": include, "compare_type": True},
        )
        return list(compare_metadata(context, Base.metadata))

    engine = create_async_engine(fresh_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_migrations_go_down_to_nothing_and_up_again(fresh_url: str) -> None:
    await asyncio.to_thread(migrate, Settings(database_url=fresh_url))
    up = await tables(fresh_url)
    assert {"outbox", "processed_event", "calendar", "level", "department_level"} <= up
    config = Config()
    config.set_main_option("script_location", str(SERVICE.migrations))
    config.set_main_option("sqlalchemy.url", fresh_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await tables(fresh_url) == {"alembic_version"}
    await asyncio.to_thread(migrate, Settings(database_url=fresh_url))
    assert await tables(fresh_url) == up
