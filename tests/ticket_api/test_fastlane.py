"""The fast lane for new inbound tickets and write-backs (tickets/fastlane.py) against the
FastAPI routes it stands in front of: for every request, the same answer; and only the
eligible ones served by the lane itself."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from helpdesk_ticket_api.main import create_app
from prometheus_client import REGISTRY

from tests.conftest import ADMIN_KEY, SERVICE_KEY

from .test_inbound import outbox_events


def lane(outcome: str, route: str = "create") -> float:
    value = REGISTRY.get_sample_value(
        "ticket_api_fast_lane_requests_total", {"route": route, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
async def reference_app(settings, clock):
    """The same service on the same database with the fast lane switched off."""
    application = create_app(settings.model_copy(update={"fast_lane": False}), clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def reference(reference_app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(reference_app), base_url="http://ticket-api"
    ) as c:
        yield c


def _normalise(value: Any, ids: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, str) and value in ids:
        return "<id>"
    return value


def _ids(body: Any) -> set[str]:
    """The values that differ between two tickets by design: ids, code."""
    if not isinstance(body, dict) or "code" not in body:
        return set()
    found = {body["id"], body["code"]}
    if body.get("last_message"):
        found.add(body["last_message"]["id"])
    return found


def _body(i: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": f"Order {i} arrived damaged ✓",
        "customer": {"email": f"Lane{i}@Example.com", "name": "Lane"},
        "message": {"body": "The leg is cracked."},
    }
    body.update(extra)
    return body


CASES: list[tuple[str, dict[str, str], Any, bool]] = [
    # (name, headers, body (dict = JSON, bytes = raw), served by the lane)
    ("plain", {}, _body(1), True),
    ("no message", {}, _body(2, message=None), True),
    ("chat, urgent", {}, _body(3, channel="chat", priority="urgent"), True),
    ("correlation", {"X-Correlation-Id": str(uuid.uuid4())}, _body(4), True),
    ("referrer", {}, _body(5, referrer_url="https://shop.example.com/p/1"), True),
    ("bad correlation", {"X-Correlation-Id": "not-a-uuid"}, _body(6), False),
    ("idempotent", {"Idempotency-Key": "k-1"}, _body(7), False),
    ("tags", {}, _body(8, tags=["vip"]), False),
    ("agent message", {}, _body(9, message={"body": "x", "author_kind": "agent"}), False),
    ("invalid json", {}, b'{"subject": "x",', False),
    ("wrong type", {}, _body(10, priority="super"), False),
    ("bad email", {}, _body(11, customer={"email": "not an address"}), False),
    ("no subject", {}, {"customer": {"email": "a@example.com"}}, False),
    ("not json", {"Content-Type": "text/plain"}, b"hello", False),
    ("unknown key", {"Authorization": "Bearer hd_nope"}, _body(12), False),
    ("no key", {"Authorization": ""}, _body(13), False),
]


@pytest.mark.parametrize(("name", "headers", "body", "served"), CASES, ids=[c[0] for c in CASES])
async def test_lane_answers_as_the_route_does(
    client, reference, database_url, name, headers, body, served
):
    # A first request puts the key in the cache (the lane never looks keys up itself).
    await client.get("/v1/tickets", params={"limit": 1})
    answers = []
    for c, key in ((reference, ADMIN_KEY), (client, ADMIN_KEY)):
        sent = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers}
        if "Idempotency-Key" in sent:
            sent["Idempotency-Key"] += "-reference" if c is reference else "-lane"
        content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
        before = (lane("served"), lane("passed"))
        response = await c.post("/v1/tickets", content=content, headers=sent)
        after = (lane("served"), lane("passed"))
        answers.append((response.status_code, response.json() if response.content else None))
        if c is client:
            assert after == (
                (before[0] + 1, before[1]) if served else (before[0], before[1] + 1)
            ), name
    (status, first), (status_again, second) = answers
    assert status == status_again, answers
    if status == 201:
        assert _normalise(first, _ids(first)) == _normalise(second, _ids(second))
        # And the events both wrote, too.
        events = (await outbox_events(database_url))[-2:]
        ids = _ids(first) | _ids(second)
        ids |= {e["id"] for e in events} | {e["correlation_id"] for e in events}
        if "X-Correlation-Id" in headers:
            assert {e["correlation_id"] for e in events} == {headers["X-Correlation-Id"]}
        assert _normalise(events[0], ids) == _normalise(events[1], ids)
    else:
        assert first == second


async def test_lane_respects_the_body_limit_and_roles(client, client_for):
    big = {
        "subject": "x",
        "customer": {"email": "a@example.com"},
        "message": {"body": "y" * 2_000_000},
    }
    response = await client.post("/v1/tickets", json=big)
    assert response.status_code == 413, response.text
    # Service keys may create tickets too; the lane serves them once their key is cached.
    async with client_for(SERVICE_KEY) as service:
        await service.get("/v1/tickets", params={"limit": 1})
        served = lane("served")
        response = await service.post("/v1/tickets", json=_body(20))
        assert response.status_code == 201, response.text
        assert lane("served") == served + 1
        history = (await client.get(f"/v1/tickets/{response.json()['id']}/history")).json()
        assert history["items"][0]["actor"]["kind"] == "service"


async def test_a_large_body_is_passed_on_whole(client):
    """Past what the lane reads before deciding, the route gets the whole body: what was read
    and the rest."""
    await client.get("/v1/tickets", params={"limit": 1})
    text = "é" * 150_000  # within the 200,000 characters allowed; 300 kB of UTF-8
    body = httpx.Request("POST", "/", json=_body(30, message={"body": text})).content
    assert len(body) > 256 * 1024

    async def chunks():
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    passed = lane("passed")
    response = await client.post(
        "/v1/tickets", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert lane("passed") == passed + 1
    assert response.json()["last_message"]["body"] == text


RULE = {"kind": "rule", "id": "rule-9", "name": "Lane rule"}
BILLING = "<billing>"
# (name, headers, body (dict = JSON, bytes = raw), served by the lane); the batch's
# "<billing>" stands for a real department; "actor" is added unless the body is raw.
WRITE_BACKS: list[tuple[str, dict[str, str | None], Any, bool]] = [
    ("transfer", {}, {"actions": [{"type": "transfer", "department_id": BILLING}]}, True),
    (
        "priority, tags, status",
        {},
        {
            "actions": [
                {"type": "set_priority", "priority": "urgent"},
                {"type": "add_tags", "tags": ["vip", "vip", "late"]},
                {"type": "set_status", "status": "open"},
            ],
            "depth": 2,
        },
        True,
    ),
    ("nothing changes", {}, {"actions": [{"type": "set_priority", "priority": "medium"}]}, True),
    (
        "unknown department",
        {},
        {"actions": [{"type": "transfer", "department_id": str(uuid.UUID(int=7))}]},
        True,
    ),
    ("old version", {}, {"actions": [{"type": "resolve"}], "expected_version": 99}, True),
    ("key too long", {"Idempotency-Key": "k" * 201}, {"actions": [{"type": "resolve"}]}, True),
    ("message", {}, {"actions": [{"type": "add_message", "body": "hi"}]}, True),
    ("no key", {"Idempotency-Key": ""}, {"actions": [{"type": "resolve"}]}, True),
    ("without key header", {"Idempotency-Key": None}, {"actions": [{"type": "resolve"}]}, False),
    ("bad action", {}, {"actions": [{"type": "explode"}]}, False),
    ("invalid json", {}, b'{"actions": [', False),
    ("agent-only field", {}, {"actions": [{"type": "resolve"}], "actor": {"kind": "x"}}, False),
]


@pytest.mark.parametrize(
    ("name", "headers", "body", "served"), WRITE_BACKS, ids=[c[0] for c in WRITE_BACKS]
)
async def test_write_back_lane_answers_as_the_route_does(
    api, client_for, reference_app, database_url, name, headers, body, served
):
    billing = await api.department(f"Billing {uuid.uuid4().hex[:6]}")
    if isinstance(body, dict):
        body = {"actor": RULE, **body}
        body["actions"] = [
            {k: billing["id"] if v == BILLING else v for k, v in a.items()} for a in body["actions"]
        ]
    answers = []
    async with (
        client_for(SERVICE_KEY) as lane_client,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(reference_app),
            base_url="http://ticket-api",
            headers={"Authorization": f"Bearer {SERVICE_KEY}"},
        ) as reference_client,
    ):
        await lane_client.get("/v1/tickets", params={"limit": 1})  # the key, cached
        for c in (reference_client, lane_client):
            ticket = await api.ticket(priority="medium")
            sent = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
            sent.update(headers)
            sent = {k: v for k, v in sent.items() if v is not None}
            content = (
                body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
            )
            url = f"/v1/tickets/{ticket['id']}/actions"
            before = (lane("served", "actions"), lane("passed", "actions"))
            response = await c.post(url, content=content, headers=sent)
            after = (lane("served", "actions"), lane("passed", "actions"))
            if c is lane_client:
                assert after == (
                    (before[0] + 1, before[1]) if served else (before[0], before[1] + 1)
                ), name
            answer = [
                response.status_code,
                response.json(),
                response.headers.get("idempotent-replayed"),
            ]
            if response.status_code == 200:
                # The same request again is a replay with the same answer.
                again = await c.post(url, content=content, headers=sent)
                assert again.status_code == 200 and again.json() == response.json()
                assert again.headers["idempotent-replayed"] == "true"
            ids = {ticket["id"], ticket["code"], ticket["last_message"]["id"]}
            if response.status_code == 200:
                ids |= set(response.json()["event_ids"])
                ids.add((response.json()["ticket"]["last_message"] or {}).get("id"))
            answers.append(_normalise(answer, ids))
    assert answers[0] == answers[1], answers


async def test_write_back_lane_leaves_other_roles_and_paths_to_the_route(api, client):
    ticket = await api.ticket()
    await client.get("/v1/tickets", params={"limit": 1})
    batch = {"actor": RULE, "actions": [{"type": "resolve"}]}
    passed = lane("passed", "actions")
    # An admin key may write back too: served.
    served = lane("served", "actions")
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/actions", json=batch, headers={"Idempotency-Key": "adm-1"}
    )
    assert response.status_code == 200, response.text
    assert lane("served", "actions") == served + 1
    # Upper-case UUIDs are the route's to parse.
    response = await client.post(
        f"/v1/tickets/{ticket['id'].upper()}/actions",
        json=batch,
        headers={"Idempotency-Key": "adm-2"},
    )
    assert response.status_code == 200, response.text
    assert lane("passed", "actions") == passed
    assert lane("served", "actions") == served + 1
