"""Both services' migrations on a real PostgreSQL: large JSON and event columns use lz4,
and the compression migrations go down and up again."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from helpdesk_devstack.postgres import LocalPostgres
from helpdesk_rule_engine.cli import migrate as migrate_rules
from helpdesk_rule_engine.config import Settings as RuleSettings
from helpdesk_service.migrations import compression_sql
from helpdesk_ticket_api.cli import migrate as migrate_tickets
from helpdesk_ticket_api.config import Settings as TicketSettings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

COMPRESSED = {
    ("tickets", "outbox", "payload"),
    ("tickets", "message", "body"),
    ("rules", "evaluation", "results"),
    ("rules", "evaluation", "tickets"),
    ("rules", "evaluation", "changes"),
    ("rules", "evaluation", "not_matched"),
    ("rules", "evaluation", "not_matched_names"),
    ("rules", "evaluation", "not_matched_versions"),
    ("rules", "outbox", "payload"),
}


async def compression(url: str) -> dict[tuple[str, str, str], str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT n.nspname, c.relname, a.attname, a.attcompression "
                    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname IN ('tickets', 'rules') AND a.attnum > 0 AND NOT a.attisdropped "
                    "AND c.relkind = 'r'"
                )
            )
            return {
                (r[0], r[1], r[2]): r[3].decode() if isinstance(r[3], bytes) else r[3] for r in rows
            }
    finally:
        await engine.dispose()


@pytest.fixture
async def fresh_url(pg_server: LocalPostgres):
    name = f"mig_{uuid.uuid4().hex[:10]}"
    await pg_server.create_database(name)
    yield pg_server.url_for(name)
    await pg_server.drop_database(name)


async def test_large_columns_use_lz4(fresh_url):
    await asyncio.to_thread(migrate_tickets, TicketSettings(database_url=fresh_url))
    await asyncio.to_thread(migrate_rules, RuleSettings(database_url=fresh_url))
    found = await compression(fresh_url)
    assert {k for k, v in found.items() if v == "l"} == COMPRESSED
    # Running them again changes nothing.
    await asyncio.to_thread(migrate_tickets, TicketSettings(database_url=fresh_url))
    assert await compression(fresh_url) == found


async def test_compression_sql_can_go_back_and_tolerates_unknown_methods(fresh_url):
    await asyncio.to_thread(migrate_tickets, TicketSettings(database_url=fresh_url))
    engine = create_async_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(compression_sql("tickets", {"outbox": ["payload"]}, "pglz")))
        assert (await compression(fresh_url))[("tickets", "outbox", "payload")] == "p"
        async with engine.begin() as conn:
            # A method this server does not know leaves the column as it was.
            await conn.execute(text(compression_sql("tickets", {"outbox": ["payload"]}, "zstd")))
        assert (await compression(fresh_url))[("tickets", "outbox", "payload")] == "p"
    finally:
        await engine.dispose()


async def test_both_services_migrate_down_to_nothing_and_up_again(fresh_url):
    from alembic import command
    from alembic.config import Config
    from helpdesk_rule_engine import cli as rule_cli
    from helpdesk_ticket_api import cli as ticket_cli

    def config(package_dir) -> Config:
        c = Config()
        c.set_main_option("script_location", str(package_dir / "migrations"))
        c.set_main_option("sqlalchemy.url", fresh_url)
        return c

    async def tables() -> set[tuple[str, str]]:
        return {(schema, table) for schema, table, _ in await compression(fresh_url)}

    await asyncio.to_thread(migrate_tickets, TicketSettings(database_url=fresh_url))
    await asyncio.to_thread(migrate_rules, RuleSettings(database_url=fresh_url))
    up = await tables()
    for schema in ("tickets", "rules"):
        assert {
            (schema, t) for t in ("outbox", "outbox_shard", "processed_event", "dead_event")
        } <= up
    for package_dir in (ticket_cli.HERE, rule_cli.HERE):
        await asyncio.to_thread(command.downgrade, config(package_dir), "base")
    # Only the version tables stay.
    assert await tables() == {("tickets", "alembic_version"), ("rules", "alembic_version")}
    await asyncio.to_thread(migrate_tickets, TicketSettings(database_url=fresh_url))
    await asyncio.to_thread(migrate_rules, RuleSettings(database_url=fresh_url))
    assert await tables() == up


async def test_rule_engine_0004_down_rebuilds_one_json_entry_per_rule(fresh_url):
    """A row written at 0004 (ids as uuid[]) goes up to bytes in order (0005), and going back
    below 0004 puts the not-matched rules into ``results`` again, in order."""
    from alembic import command
    from alembic.config import Config
    from helpdesk_rule_engine import cli as rule_cli

    config = Config()
    config.set_main_option("script_location", str(rule_cli.HERE / "migrations"))
    config.set_main_option("sqlalchemy.url", fresh_url)
    await asyncio.to_thread(command.upgrade, config, "0004")
    engine = create_async_engine(fresh_url)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    fired = {"rule_id": str(uuid.uuid4()), "rule_name": "hit", "kind": "action",
             "index": 1, "ticket_version": 3, "outcome": "fired", "reason": None}  # fmt: skip
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO rules.rule (id, kind, name, active, shadow, position, trigger, "
                    "conditions, actions, created_at, updated_at) VALUES (:id, 'sla', 'kept', "
                    "true, false, 0, 'ticket_created', '{}', '[]', now(), now())"
                ),
                {"id": kept},
            )
            await conn.execute(
                text(
                    "INSERT INTO rules.evaluation (event_id, event_type, ticket_id, "
                    "correlation_id, depth, triggers, results, evaluated_at, not_matched, "
                    "not_matched_names, not_matched_versions) VALUES (:e, 'ticket.created', :e, "
                    ":e, 0, '{}', CAST(:r AS jsonb), now(), ARRAY[:a, :b]::uuid[], "
                    "ARRAY['kept', 'dropped'], ARRAY[3, 4]), (:e2, 'ticket.created', :e2, "
                    ":e2, 0, '{}', '[]', now(), '{}'::uuid[], '{}', '{}')"
                ),
                {"e": uuid.uuid4(), "e2": uuid.uuid4(), "r": json.dumps([fired]), "a": kept,
                 "b": dropped},
            )  # fmt: skip
        await asyncio.to_thread(command.upgrade, config, "0005")
        async with engine.connect() as conn:
            packed = (
                (await conn.execute(text("SELECT not_matched FROM rules.evaluation ORDER BY id")))
                .scalars()
                .all()
            )
        assert packed == [kept.bytes + dropped.bytes, b""]  # empty stays empty, not NULL
        await asyncio.to_thread(command.downgrade, config, "0003")
        async with engine.connect() as conn:
            results = (
                (await conn.execute(text("SELECT results FROM rules.evaluation ORDER BY id")))
                .scalars()
                .first()
            )
    finally:
        await engine.dispose()
    not_matched = {"outcome": "not_matched", "reason": "no condition group held"}
    assert results == [
        {"rule_id": str(kept), "rule_name": "kept", "kind": "sla", "ticket_version": 3,
         **not_matched},
        {k: v for k, v in fired.items() if k != "index"},
        {"rule_id": str(dropped), "rule_name": "dropped", "kind": "action",
         "ticket_version": 4, **not_matched},
    ]  # fmt: skip
    await asyncio.to_thread(migrate_rules, RuleSettings(database_url=fresh_url))
