"""What a ticket write costs the ticket table's indexes: the times a ticket may lack are
indexed only where set (migration 0006), and searches on them still use those indexes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from helpdesk_conditions import compile_sql
from helpdesk_ticket_api.models import NULLABLE_SEARCHED_TIMES, Ticket
from helpdesk_ticket_api.tickets.search import TABLES
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def rows_of(
    database_url: str, statement: str, params: dict[str, Any] | None = None, *settings: str
) -> list[tuple[Any, ...]]:
    """The rows of ``statement`` in a transaction of its own, with ``SET LOCAL settings``."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for setting in settings:
                await conn.execute(text(f"SET LOCAL {setting}"))
            return [tuple(row) for row in await conn.execute(text(statement), params or {})]
    finally:
        await engine.dispose()


async def index_pages(database_url: str, names: list[str]) -> dict[str, int]:
    """Each index's size in pages: a b-tree holding no entry is its metapage alone."""
    rows = await rows_of(
        database_url,
        "SELECT relname, pg_relation_size(oid) / current_setting('block_size')::int "
        "FROM pg_class WHERE relnamespace = 'tickets'::regnamespace AND relname = ANY(:names)",
        {"names": names},
    )
    return {str(name): int(pages) for name, pages in rows}


async def test_a_write_back_to_a_ticket_lacking_those_times_adds_no_entry_to_their_indexes(
    api, client, service, database_url
):
    department = await api.department()
    agent = await api.agent([department["id"]])
    # The router's case: a new chat ticket (no message yet, no SLA clock) assigned.
    created = await client.post(
        "/v1/tickets",
        json={"subject": "Chat", "channel": "chat", "department_id": department["id"]},
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assigned = await service.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json={
            "actor": {"kind": "router", "id": "router", "name": "Router"},
            "actions": [{"type": "transfer", "agent_id": agent["id"]}],
            "expected_version": ticket["version"],
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert assigned.status_code == 200, assigned.text
    nullable = [f"ix_ticket_{column}" for column in NULLABLE_SEARCHED_TIMES]
    pages = await index_pages(database_url, [*nullable, "ix_ticket_updated_at"])
    assert pages == {"ix_ticket_updated_at": 2, **dict.fromkeys(nullable, 1)}

    # Once a time is set, the ticket is in that time's index.
    due = await service.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json={
            "actor": {"kind": "sla_tracker"},
            "actions": [
                {"type": "set_sla_state", "due_at": NOW.isoformat(), "late": False, "stamp": 1}
            ],
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert due.status_code == 200, due.text
    assert (await index_pages(database_url, ["ix_ticket_sla_due_at"])) == {
        "ix_ticket_sla_due_at": 2
    }


def _matching(conditions: list[dict[str, Any]]) -> str:
    """The tickets POST /v1/tickets/search selects for ``conditions`` (one group)."""
    query = (
        select(Ticket.id)
        .where(compile_sql({"any": [{"all": conditions}]}, TABLES, now=NOW))
        .where(Ticket.deleted_at.is_(None))
    )
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def c(field: str, op: str, value: Any, unit: str | None = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value, **({"unit": unit} if unit else {})}


@pytest.mark.parametrize(
    ("conditions", "index"),
    [
        ([c("sla_due_at", "before", "2026-12-07T12:30:00+00:00")], "ix_ticket_sla_due_at"),
        (
            [c("last_customer_message_at", "older_than", 48, "hours")],
            "ix_ticket_last_customer_message_at",
        ),
        ([c("last_message_at", "within_last", 1, "hours")], "ix_ticket_last_message_at"),
        # The scheduler's time rule (awaiting_customer_48_hours, with the status).
        (
            [c("last_agent_reply_at", "older_than", 48, "hours")],
            "ix_ticket_last_agent_reply_at",
        ),
    ],
)
async def test_searches_on_those_times_can_use_their_indexes(
    database_url: str, conditions: list[dict[str, Any]], index: str
) -> None:
    # On an empty table a scan is cheapest: ask whether the index *can* serve.
    plan = await rows_of(
        database_url, "EXPLAIN " + _matching(conditions), None, "enable_seqscan = off"
    )
    assert index in "\n".join(line for (line,) in plan)
