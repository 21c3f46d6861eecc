"""Alembic wiring every service shares: its own schema, its own version table, one migrator
at a time (an advisory lock), scripts shipped inside the service's package."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def upgrade(script_location: Path, database_url: str) -> None:
    """Bring a service's schema to the newest revision (``helpdesk-<service> migrate``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(config, "head")


def run_env(target_metadata: MetaData, schema: str) -> None:
    """The body of a service's ``migrations/env.py``."""
    from alembic import context

    def run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            # Two replicas migrating at once: the second waits, then finds nothing to do.
            connection.execute(text(f"SELECT pg_advisory_xact_lock(hashtext('migrate:{schema}'))"))
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "")
        async with engine.connect() as conn:
            await conn.run_sync(run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(main())


def compression_sql(schema: str, columns: dict[str, list[str]], method: str) -> str:
    """SQL that sets the TOAST compression of these columns ({table: [column, ...]}).

    A server built without ``method`` (lz4 is optional at build time) keeps its default: the
    statement then changes nothing instead of failing the migration."""
    statements = "; ".join(
        f'ALTER TABLE "{schema}"."{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}'
        for table, names in columns.items()
        for column in names
    )
    return (
        "DO $$ BEGIN "
        f"EXECUTE $sql${statements}$sql$; "
        "EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL; "
        "END $$"
    )


def create_event_tables(schema: str) -> None:
    """In a service's first migration: the tables helpdesk_events owns — the outbox with its
    shard rows (one per ``SHARD_COUNT``; a relay owns a shard by locking its row), and the
    consumer's ``processed_event`` and ``dead_event`` — exactly as the library defines them."""
    from alembic import op
    from helpdesk_events import SHARD_COUNT, consumer_tables, outbox_tables

    from .db import schema_metadata

    metadata = schema_metadata(schema)
    outbox_tables(metadata)
    consumer_tables(metadata)
    metadata.create_all(op.get_bind())
    op.execute(
        f'INSERT INTO "{schema}".outbox_shard (shard) SELECT generate_series(0, {SHARD_COUNT - 1})'
    )


def drop_event_tables(schema: str) -> None:
    """The reverse of ``create_event_tables``."""
    from alembic import op
    from helpdesk_events import consumer_tables, outbox_tables

    from .db import schema_metadata

    metadata = schema_metadata(schema)
    outbox_tables(metadata)
    consumer_tables(metadata)
    metadata.drop_all(op.get_bind())
