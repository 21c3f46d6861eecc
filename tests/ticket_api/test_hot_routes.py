"""The two hottest routes, new tickets and write-backs, one handler each: every kind of
request, good and bad, gets its answer, and what a good one wrote is what it answered."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, SERVICE_KEY

from .helpers import error_of
from .test_creation import outbox_events


def _body(i: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": f"Order {i} arrived damaged ✓",
        "customer": {"email": f"Lane{i}@Example.com", "name": "Lane"},
        "message": {"body": "The leg is cracked."},
    }
    body.update(extra)
    return body


CASES: list[tuple[str, dict[str, str], Any, int]] = [
    # (name, headers, body (dict = JSON, bytes = raw), status)
    ("plain", {}, _body(1), 201),
    ("no message", {}, _body(2, message=None), 201),
    ("chat, urgent", {}, _body(3, channel="chat", priority="urgent"), 201),
    ("correlation", {"X-Correlation-Id": str(uuid.uuid4())}, _body(4), 201),
    ("referrer", {}, _body(5, referrer_url="https://shop.example.com/p/1"), 201),
    ("bad correlation", {"X-Correlation-Id": "not-a-uuid"}, _body(6), 422),
    ("idempotent", {"Idempotency-Key": "k-1"}, _body(7), 201),
    ("tags", {}, _body(8, tags=["vip"]), 201),
    ("agent message", {}, _body(9, message={"body": "x", "author_kind": "agent"}), 201),
    ("invalid json", {}, b'{"subject": "x",', 400),
    ("wrong type", {}, _body(10, priority="super"), 422),
    ("bad email", {}, _body(11, customer={"email": "not an address"}), 422),
    ("no subject", {}, {"customer": {"email": "a@example.com"}}, 422),
    ("not json", {"Content-Type": "text/plain"}, b"hello", 422),
    ("unknown key", {"Authorization": "Bearer hd_nope"}, _body(12), 401),
    ("no key", {"Authorization": ""}, _body(13), 401),
]


@pytest.mark.parametrize(("name", "headers", "body", "status"), CASES, ids=[c[0] for c in CASES])
async def test_new_tickets_are_answered_and_written_alike(
    client, database_url, name, headers, body, status
):
    sent = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json", **headers}
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    response = await client.post("/v1/tickets", content=content, headers=sent)
    assert response.status_code == status, response.text
    answer = response.json()
    if status != 201:
        assert set(answer["error"]) >= {"code", "message"}, answer
        return
    # What it answered is what it stored and what its event carries.
    assert (await client.get(f"/v1/tickets/{answer['id']}")).json() == answer
    (event,) = (await outbox_events(database_url))[-1:]
    assert event["type"] == "ticket.created" and event["ticket"] == answer
    if "X-Correlation-Id" in headers:
        assert event["correlation_id"] == headers["X-Correlation-Id"]
    if isinstance(body, dict) and body.get("message"):
        assert answer["last_message"]["body"] == body["message"]["body"]
        assert event["message"] == answer["last_message"]
    if "Idempotency-Key" in headers:
        again = await client.post("/v1/tickets", content=content, headers=sent)
        assert again.status_code == 201 and again.json() == answer
        assert again.headers["idempotent-replayed"] == "true"


async def test_the_body_limit_holds_and_service_keys_create_too(client, client_for):
    big = {
        "subject": "x",
        "customer": {"email": "a@example.com"},
        "message": {"body": "y" * 2_000_000},
    }
    response = await client.post("/v1/tickets", json=big)
    assert response.status_code == 413, response.text
    async with client_for(SERVICE_KEY) as service:
        response = await service.post("/v1/tickets", json=_body(20))
        assert response.status_code == 201, response.text
        history = (await client.get(f"/v1/tickets/{response.json()['id']}/history")).json()
        assert history["items"][0]["actor"]["kind"] == "service"


async def test_a_large_body_sent_in_chunks_is_read_whole(client):
    text = "é" * 150_000  # within the 200,000 characters allowed; 300 kB of UTF-8
    body = httpx.Request("POST", "/", json=_body(30, message={"body": text})).content
    assert len(body) > 256 * 1024

    async def chunks():
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    response = await client.post(
        "/v1/tickets", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["last_message"]["body"] == text


RULE = {"kind": "rule", "id": "rule-9", "name": "Lane rule"}
BILLING = "<billing>"
# (name, headers, body (dict = JSON, bytes = raw), status); the batch's "<billing>" stands
# for a real department; "actor" is added unless the body is raw.
WRITE_BACKS: list[tuple[str, dict[str, str | None], Any, int]] = [
    ("transfer", {}, {"actions": [{"type": "transfer", "department_id": BILLING}]}, 200),
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
        200,
    ),
    ("nothing changes", {}, {"actions": [{"type": "set_priority", "priority": "medium"}]}, 200),
    (
        "unknown department",
        {},
        {"actions": [{"type": "transfer", "department_id": str(uuid.UUID(int=7))}]},
        422,
    ),
    ("old version", {}, {"actions": [{"type": "resolve"}], "expected_version": 99}, 409),
    ("key too long", {"Idempotency-Key": "k" * 201}, {"actions": [{"type": "resolve"}]}, 422),
    ("message", {}, {"actions": [{"type": "add_message", "body": "hi"}]}, 200),
    ("no key", {"Idempotency-Key": ""}, {"actions": [{"type": "resolve"}]}, 422),
    ("without key header", {"Idempotency-Key": None}, {"actions": [{"type": "resolve"}]}, 422),
    ("bad action", {}, {"actions": [{"type": "explode"}]}, 422),
    ("invalid json", {}, b'{"actions": [', 400),
    ("agent-only field", {}, {"actions": [{"type": "resolve"}], "actor": {"kind": "x"}}, 422),
]


@pytest.mark.parametrize(
    ("name", "headers", "body", "status"), WRITE_BACKS, ids=[c[0] for c in WRITE_BACKS]
)
async def test_write_backs_are_answered_and_written_alike(
    api, service, database_url, name, headers, body, status
):
    billing = await api.department(f"Billing {uuid.uuid4().hex[:6]}")
    if isinstance(body, dict):
        body = {"actor": RULE, **body}
        body["actions"] = [
            {k: billing["id"] if v == BILLING else v for k, v in a.items()} for a in body["actions"]
        ]
    ticket = await api.ticket(priority="medium")
    sent = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    sent.update(headers)
    sent = {k: v for k, v in sent.items() if v is not None}
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    url = f"/v1/tickets/{ticket['id']}/actions"
    before = len(await outbox_events(database_url))
    response = await service.post(url, content=content, headers=sent)
    assert response.status_code == status, response.text
    answer = response.json()
    events = (await outbox_events(database_url))[before:]
    if status != 200:
        assert set(answer["error"]) >= {"code", "message"}, answer
        assert events == []
        return
    assert [e["id"] for e in events] == answer["event_ids"]
    assert (await service.get(f"/v1/tickets/{ticket['id']}")).json() == answer["ticket"]
    if events:
        assert events[-1]["ticket"] == answer["ticket"]
    # The same request again is a replay with the same answer.
    again = await service.post(url, content=content, headers=sent)
    assert again.status_code == 200 and again.json() == answer
    assert again.headers["idempotent-replayed"] == "true"


async def test_admin_keys_and_upper_case_ids_write_back_too(api, client):
    ticket = await api.ticket()
    batch = {"actor": RULE, "actions": [{"type": "resolve"}]}
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/actions", json=batch, headers={"Idempotency-Key": "adm-1"}
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"/v1/tickets/{ticket['id'].upper()}/actions",
        json=batch,
        headers={"Idempotency-Key": "adm-2"},
    )
    assert response.status_code == 200, response.text


async def test_parts_are_refused_as_declared_parameters_are(client):
    """Path, headers and body checked as FastAPI checks declared parameters: all errors in one
    answer, the key before anything else."""
    json_type = {"Content-Type": "application/json"}
    response = await client.post(
        "/v1/tickets", content=b'{"subject": 5}', headers={**json_type, "X-Correlation-Id": "x"}
    )
    fields = [d["field"] for d in error_of(response, 422)["details"]]
    assert fields[0] == "header.X-Correlation-Id" and "subject" in fields
    response = await client.post(
        "/v1/tickets/not-a-uuid/actions", content=b'{"actions": 1}', headers=json_type
    )
    fields = [d["field"] for d in error_of(response, 422)["details"]]
    assert fields[0] == "path.ticket_id" and "actions" in fields
    response = await client.post("/v1/tickets", content=b"", headers=json_type)
    assert error_of(response, 422)["message"] == "body: Field required"
    response = await client.post(
        "/v1/tickets", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert error_of(response, 422)["details"][0]["type"] == "model_attributes_type"
    response = await client.post(
        "/v1/tickets",
        content=b'{"subject": 5}',
        headers={**json_type, "Authorization": "Bearer hd_nope"},
    )
    error_of(response, 401)
