"""Idempotency-Key on ticket creation: a retried request creates one ticket."""

from __future__ import annotations

import asyncio

from .helpers import all_tickets, error_of

BODY = {
    "subject": "Order never arrived",
    "channel": "web_form",
    "customer": {"email": "cleo@example.com"},
    "message": {"body": "Where is it?"},
}


async def test_retry_returns_the_same_ticket(client):
    headers = {"Idempotency-Key": "form-submission-1"}
    first = await client.post("/v1/tickets", json=BODY, headers=headers)
    assert first.status_code == 201
    retry = await client.post("/v1/tickets", json=BODY, headers=headers)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json() == first.json()
    assert len(await all_tickets(client)) == 1
    messages = (await client.get(f"/v1/tickets/{first.json()['id']}/messages")).json()
    assert len(messages["items"]) == 1


async def test_concurrent_retries_create_one_ticket(client):
    headers = {"Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        *(client.post("/v1/tickets", json=BODY, headers=headers) for _ in range(3))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await all_tickets(client)) == 1


async def test_key_reused_for_another_ticket_is_refused(client):
    headers = {"Idempotency-Key": "k"}
    assert (await client.post("/v1/tickets", json=BODY, headers=headers)).status_code == 201
    other = await client.post("/v1/tickets", json={**BODY, "subject": "Other"}, headers=headers)
    error_of(other, 422, "idempotency_key_reused")
    assert [t["subject"] for t in await all_tickets(client)] == [BODY["subject"]]

    # Other keys, and no key, create new tickets.
    a = await client.post("/v1/tickets", json=BODY, headers={"Idempotency-Key": "a"})
    b = await client.post("/v1/tickets", json=BODY, headers={"Idempotency-Key": "b"})
    c = await client.post("/v1/tickets", json=BODY)
    d = await client.post("/v1/tickets", json=BODY)
    assert len({r.json()["id"] for r in (a, b, c, d)}) == 4
    assert len(await all_tickets(client)) == 5


async def test_a_failed_create_does_not_use_the_key_up(client):
    headers = {"Idempotency-Key": "retry-after-fix"}
    failed = await client.post(
        "/v1/tickets", json={**BODY, "custom_fields": {"missing": 1}}, headers=headers
    )
    error_of(failed, 422)
    assert await all_tickets(client) == []
    ok = await client.post("/v1/tickets", json=BODY, headers=headers)
    assert ok.status_code == 201
    assert "Idempotent-Replayed" not in ok.headers
