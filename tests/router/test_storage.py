"""How the router's tables store what each decision writes."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import helpdesk_router
from alembic import command
from alembic.config import Config
from helpdesk_devstack.postgres import LocalPostgres
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


async def test_the_migration_to_stored_loads_counts_the_tickets_already_there(
    pg_server: LocalPostgres,
) -> None:
    name = f"router_loads_{uuid.uuid4().hex[:10]}"
    await pg_server.create_database(name)
    config = Config()
    config.set_main_option(
        "script_location", str(Path(helpdesk_router.__file__).parent / "migrations")
    )
    config.set_main_option("sqlalchemy.url", pg_server.url_for(name))
    db = make_engine(pg_server.url_for(name), application_name="router-storage-test")
    try:
        await asyncio.to_thread(command.upgrade, config, "0007")
        agents = [uuid.uuid4() for _ in range(3)]
        async with db.begin() as connection:
            for n, state in enumerate(["assigned", "reserved", "waiting", "closed"] * 6):
                await connection.execute(
                    text(
                        "INSERT INTO routing.ticket (id, department_id, channel, agent_id, state, "
                        "version, created_at, assigned_at) VALUES (gen_random_uuid(), "
                        "gen_random_uuid(), :channel, :agent, :state, 1, now(), "
                        "now() - make_interval(mins => :minutes))"
                    ),
                    {
                        "channel": ["chat", "email"][n % 2],
                        "agent": agents[n % 3] if state in ("assigned", "reserved") else None,
                        "state": state,
                        "minutes": n,
                    },
                )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with db.connect() as connection:
            stored = (
                await connection.execute(
                    text(
                        "SELECT agent_id, channel, load, last_assigned_at "
                        "FROM routing.agent_load ORDER BY 1, 2"
                    )
                )
            ).all()
            counted = (
                await connection.execute(
                    text(
                        "SELECT agent_id, channel, count(*), max(assigned_at) FROM routing.ticket "
                        "WHERE agent_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
                    )
                )
            ).all()
    finally:
        await db.dispose()
        await pg_server.drop_database(name)
    assert len(stored) == 6
    assert stored == counted
