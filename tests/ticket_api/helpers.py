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


async def pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page a list endpoint answers for these parameters, following cursors."""
    found: list[list[dict[str, Any]]] = []
    query = dict(params)
    while True:
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found.append(body["items"])
        if not body["next_cursor"]:
            return found
        query["cursor"] = body["next_cursor"]


async def history(client: httpx.AsyncClient, ticket_id: str) -> list[dict[str, Any]]:
    """The whole history of a ticket, following cursors."""
    listed = await pages(client, f"/v1/tickets/{ticket_id}/history", limit=500)
    return [entry for page in listed for entry in page]


def entries(
    items: list[dict[str, Any]], action: str, field: str | None = None
) -> list[dict[str, Any]]:
    """History entries with this action (and field)."""
    return [h for h in items if h["action"] == action and (field is None or h["field"] == field)]


async def all_tickets(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every ticket the list endpoint returns for these filters, following cursors."""
    listed = await pages(client, "/v1/tickets", **{"limit": 200, **params})
    return [ticket for page in listed for ticket in page]


async def ticket_ids(client: httpx.AsyncClient, **params: Any) -> set[str]:
    return {t["id"] for t in await all_tickets(client, **params)}
