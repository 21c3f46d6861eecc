"""POST /v1/tickets/search: the condition language over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from helpdesk_events import ManualClock

from tests.conftest import Api


def one(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    condition = {"field": field, "op": op, **extra}
    if value is not None:
        condition["value"] = value
    return {"any": [{"all": [condition]}]}


async def search(client: httpx.AsyncClient, conditions: dict[str, Any], **body: Any) -> Any:
    response = await client.post("/v1/tickets/search", json={"conditions": conditions, **body})
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [t["id"] for t in page["items"]]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_search_finds_the_matching_tickets_newest_first(
    api: Api, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    refund = await api.ticket(subject="REFUND for order 17", priority="high", tags=["billing"])
    clock.advance(minutes=1)
    other = await api.ticket(subject="Printer on fire", priority="high")
    clock.advance(minutes=1)
    straße = await api.ticket(subject="Rückerstattung: Ärger", priority="low", tags=["billing"])

    assert ids(await search(client, one("subject", "contains", "refund"))) == [refund["id"]]
    assert ids(await search(client, one("subject", "contains", "ärger"))) == [straße["id"]]
    high = await search(client, one("priority", "in", ["high", "urgent"]))
    assert ids(high) == [other["id"], refund["id"]]
    either = {
        "any": [
            {"all": [{"field": "tags", "op": "has_tag", "value": "billing"}]},
            {"all": [{"field": "body", "op": "contains", "value": "ON FIRE"}]},
        ]
    }
    assert ids(await search(client, either)) == [straße["id"], other["id"], refund["id"]]
    everything = await search(client, {"any": []})
    assert len(everything["items"]) == 3
    assert everything["items"][0]["subject"] == "Rückerstattung: Ärger"  # a full ticket


async def test_pages_follow_the_cursor(
    api: Api, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    created = []
    for n in range(5):
        created.append((await api.ticket(subject=f"match {n}"))["id"])
        await api.ticket(subject=f"other {n}")
        clock.advance(seconds=30)
    conditions = one("subject", "starts_with", "MATCH")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await search(client, conditions, limit=2, cursor=cursor)
        seen += ids(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


async def test_agents_see_only_their_departments_and_their_own_tickets(
    api: Api, client_for: Callable[[str], httpx.AsyncClient]
) -> None:
    mine, theirs = await api.department(), await api.department()
    agent = await api.agent([mine["id"]])
    in_mine = await api.ticket(subject="refund A", department_id=mine["id"])
    await api.ticket(subject="refund B", department_id=theirs["id"])
    assigned = await api.ticket(subject="refund C", agent_id=agent["id"])
    async with client_for(await api.agent_key(agent["id"])) as as_agent:
        found = await search(as_agent, one("subject", "contains", "refund"))
    assert set(ids(found)) == {in_mine["id"], assigned["id"]}


async def test_relative_times_use_the_clock_or_the_given_instant(
    api: Api, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    start = clock.now()
    ticket = await api.ticket(subject="waiting")
    stale = one("created_at", "older_than", 2, unit="days")
    assert ids(await search(client, stale)) == []
    clock.advance(days=2, seconds=1)
    page = await search(client, stale)
    assert ids(page) == [ticket["id"]]
    assert page["at"] == clock.now().isoformat()
    earlier = (start + timedelta(days=1)).isoformat()
    assert ids(await search(client, stale, at=earlier)) == []


async def test_deleted_tickets_only_when_asked(api: Api, client: httpx.AsyncClient) -> None:
    ticket = await api.ticket(subject="spam spam")
    assert (await client.delete(f"/v1/tickets/{ticket['id']}")).status_code == 200
    conditions = one("subject", "contains", "spam")
    assert ids(await search(client, conditions)) == []
    assert ids(await search(client, conditions, include_deleted=True)) == [ticket["id"]]
    deleted = one("deleted", "is_true")
    assert ids(await search(client, deleted, include_deleted=True)) == [ticket["id"]]


async def test_custom_fields_are_searched_by_their_definitions(
    api: Api, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/v1/custom-fields", json={"key": "contract", "label": "Contract", "type": "number"}
    )
    assert response.status_code == 201, response.text
    big = await api.ticket(subject="big", custom_fields={"contract": 50_000})
    await api.ticket(subject="small", custom_fields={"contract": 500})
    await api.ticket(subject="none")
    found = await search(client, one("custom_fields.contract", "gte", 10_000))
    assert ids(found) == [big["id"]]


async def test_a_bad_condition_is_a_422_pointing_at_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/tickets/search",
        json={"conditions": one("subject", "contians", "refund")},
    )
    error = error_of(response, 422)
    assert error["code"] == "invalid"
    [detail] = error["details"]
    assert detail["field"] == "conditions.any[0].all[0].op"
    assert detail["message"].startswith('"contians" is not an operator for field subject (text)')
    assert error["message"].startswith("conditions.any[0].all[0].op: ")


async def test_an_unknown_custom_field_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/tickets/search", json={"conditions": one("custom_fields.nope", "is_set")}
    )
    error = error_of(response, 422)
    assert error["details"] == [
        {
            "field": "conditions.any[0].all[0].field",
            "message": "no custom field with key 'nope'; defined keys: none",
            "type": "invalid_condition",
        }
    ]


async def test_changed_cannot_be_searched(client: httpx.AsyncClient) -> None:
    conditions = {
        "any": [
            {"all": [{"field": "status", "op": "is", "value": "new"}]},
            {"all": [{"field": "status", "op": "changed_to", "value": "open"}]},
        ]
    }
    response = await client.post("/v1/tickets/search", json={"conditions": conditions})
    error = error_of(response, 422)
    [detail] = error["details"]
    assert detail["field"] == "conditions.any[1].all[0].op"
    assert "changed_to tests the change that triggered a rule" in detail["message"]


async def test_body_problems_are_422s(client: httpx.AsyncClient) -> None:
    for body, field in [
        ({"conditions": {"any": []}, "limit": 501}, "limit"),
        ({"conditions": {"any": []}, "extra": 1}, "extra"),
        ({"conditions": {"any": []}, "at": "2026-01-01T00:00:00"}, "at"),
        ({}, "conditions"),
    ]:
        response = await client.post("/v1/tickets/search", json=body)
        assert [d["field"] for d in error_of(response, 422)["details"]] == [field]
    response = await client.post(
        "/v1/tickets/search", json={"conditions": {"any": []}, "cursor": "garbage"}
    )
    assert error_of(response, 422)["code"] == "invalid_cursor"


async def test_search_needs_a_key(client_for: Callable[[str], httpx.AsyncClient]) -> None:
    async with client_for("wrong") as anonymous:
        response = await anonymous.post("/v1/tickets/search", json={"conditions": {"any": []}})
    assert response.status_code == 401
