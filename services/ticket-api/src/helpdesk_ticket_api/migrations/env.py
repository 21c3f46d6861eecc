"""Alembic environment of ticket-api: its own schema and its own version table."""

from __future__ import annotations

import asyncio

from alembic import context
from helpdesk_ticket_api import models  # noqa: F401 - registers the tables
from helpdesk_ticket_api.db import SCHEMA, Base
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=lambda name, type_, _: type_ != "schema" or name == SCHEMA,
    )
    with context.begin_transaction():
        # Two instances migrating at once: the second waits, then finds nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('migrate:tickets'))"))
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


asyncio.run(_main())
