"""Small helpers shared by the ticket-api tests."""

from __future__ import annotations

from typing import Any

import httpx


def error_of(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the response is an error of this status (and code); return its error object."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


def fields_named(error: dict[str, Any]) -> list[str]:
    """The fields a 422 validation error's details point at."""
    return [d["field"] for d in error["details"] or []]


async def history(client: httpx.AsyncClient, ticket_id: str) -> list[dict[str, Any]]:
    """The whole history of a ticket, following cursors."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(f"/v1/tickets/{ticket_id}/history", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def entries(
    items: list[dict[str, Any]], action: str, field: str | None = None
) -> list[dict[str, Any]]:
    """History entries with this action (and field)."""
    return [h for h in items if h["action"] == action and (field is None or h["field"] == field)]


async def all_tickets(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every ticket the list endpoint returns for these filters, following cursors."""
    items: list[dict[str, Any]] = []
    query = {"limit": 200, **params}
    while True:
        response = await client.get("/v1/tickets", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if not body["next_cursor"]:
            return items
        query["cursor"] = body["next_cursor"]


async def ticket_ids(client: httpx.AsyncClient, **params: Any) -> set[str]:
    return {t["id"] for t in await all_tickets(client, **params)}
