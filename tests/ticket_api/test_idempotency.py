"""Idempotency-Key on ticket creation: a retried request creates one ticket; keys are
forgotten after their retention."""

from __future__ import annotations

import asyncio

import pytest
from helpdesk_service.db import make_engine
from helpdesk_service.retention import Expiry, Pruner, kept_for
from helpdesk_ticket_api.config import Settings
from pydantic import ValidationError

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


async def test_keys_are_forgotten_after_their_retention(client, database_url, clock):
    """The relay's pruner (TICKET_API_IDEMPOTENCY_RETENTION_DAYS, 7 by default) removes
    keys by age: within it a retry replays, after it the same key is a new request."""
    keep = kept_for(Settings.model_fields["idempotency_retention_days"].default)
    engine = make_engine(database_url, application_name="retention-test", pool_size=1)
    pruner = Pruner(engine, clock, [Expiry("tickets.idempotency_key", "created_at", keep)])
    headers = {"Idempotency-Key": "weekly-import-17"}
    try:
        first = await client.post("/v1/tickets", json=BODY, headers=headers)
        clock.advance(days=6, hours=23)
        assert await pruner.prune_once() == {"tickets.idempotency_key": 0}
        retry = await client.post("/v1/tickets", json=BODY, headers=headers)
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json()["id"] == first.json()["id"]

        clock.advance(hours=2)  # 7 days and 1 hour after the first request
        assert await pruner.prune_once() == {"tickets.idempotency_key": 1}
        later = await client.post("/v1/tickets", json=BODY, headers=headers)
        assert later.status_code == 201
        assert "Idempotent-Replayed" not in later.headers
        assert later.json()["id"] != first.json()["id"]
        assert len(await all_tickets(client)) == 2
    finally:
        await engine.dispose()


def test_idempotency_retention_settings(monkeypatch):
    for name in ("IDEMPOTENCY_RETENTION_DAYS", "RETENTION_INTERVAL_SECONDS"):
        monkeypatch.delenv(f"TICKET_API_{name}", raising=False)
    assert (Settings().idempotency_retention_days, Settings().retention_interval_seconds) == (
        7,
        3600,
    )
    monkeypatch.setenv("TICKET_API_IDEMPOTENCY_RETENTION_DAYS", "-1")
    with pytest.raises(ValidationError, match="idempotency_retention_days"):
        Settings()
