"""The benchmark's raw-SQL run (bench/workload.py) sends the API's own creation statement with
arguments it builds itself. Here it must write what ``POST /v1/tickets`` writes for the same
request: otherwise bench/REPORT.md compares the API with some other SQL, or (as when the
SLA columns came and the raw arguments did not follow) with a statement that fails every
time."""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import httpx
import orjson

from bench import workload

# What differs between two tickets however they were made.
_OWN = {
    "ticket": {"id", "number", "code", "created_at", "updated_at", "status_changed_at",
               "first_customer_message_at", "last_customer_message_at", "last_message_at",
               "last_message_id"},
    "message": {"id", "ticket_id", "created_at"},
    # actor_id: the bench's admin key is not this test's.
    "ticket_history": {"id", "ticket_id", "occurred_at", "event_id", "correlation_id",
                       "actor_id"},
}  # fmt: skip


async def _rows(conn: Any, table: str, ticket_id: Any) -> list[dict[str, Any]]:
    column = "id" if table == "ticket" else "ticket_id"
    rows = await conn.fetch(f"SELECT * FROM tickets.{table} WHERE {column} = $1", ticket_id)
    return [{k: v for k, v in row.items() if k not in _OWN[table]} for row in rows]


async def test_the_raw_run_writes_what_the_api_writes(
    client: httpx.AsyncClient, database_url: str
) -> None:
    request = workload.ticket_request(random.Random(7))
    response = await client.post("/v1/tickets", json=request)
    assert response.status_code == 201, response.text
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await workload.create_ticket_raw(conn, request, "helpdesk.tickets")
        by_api = await conn.fetchval("SELECT id FROM tickets.ticket WHERE number = 1")
        by_raw = await conn.fetchval("SELECT id FROM tickets.ticket WHERE number = 2")
        assert str(by_api) == response.json()["id"]
        for table in _OWN:
            api_rows, raw_rows = await _rows(conn, table, by_api), await _rows(conn, table, by_raw)
            assert api_rows, table
            assert raw_rows == api_rows, table
        events = [
            orjson.loads(payload)
            for payload in await conn.fetchval(
                "SELECT array_agg(payload ORDER BY id) FROM tickets.outbox"
            )
        ]
    finally:
        await conn.close()
    assert [event["type"] for event in events] == ["ticket.created", "ticket.created"]
    api_ticket, raw_ticket = (_snapshot(event["ticket"]) for event in events)
    assert raw_ticket == api_ticket


def _snapshot(ticket: dict[str, Any]) -> dict[str, Any]:
    """An event's ticket snapshot but for what is the ticket's own."""
    last_message = {k: v for k, v in ticket["last_message"].items() if k not in _OWN["message"]}
    return {k: v for k, v in ticket.items() if k not in _OWN["ticket"]} | {
        "last_message": last_message
    }
