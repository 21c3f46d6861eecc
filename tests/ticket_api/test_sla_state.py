"""The SLA state the sla-tracker writes back (the ``set_sla_state`` action): on the ticket,
in its history and events, in searches; stale states change nothing."""

from __future__ import annotations

import uuid

from .helpers import error_of, history

TRACKER = {"kind": "sla_tracker"}
DUE = "2026-12-07T12:00:00+00:00"


async def set_state(service, ticket, *, due_at, late, stamp, actor=TRACKER):
    return await service.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json={
            "actor": actor,
            "actions": [{"type": "set_sla_state", "due_at": due_at, "late": late, "stamp": stamp}],
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_the_state_is_on_the_ticket_and_in_its_history(api, client, service):
    ticket = await api.ticket()
    assert (ticket["sla_due_at"], ticket["sla_late"]) == (None, False)
    response = await set_state(service, ticket, due_at=DUE, late=False, stamp=1)
    assert response.status_code == 200, response.text
    assert len(response.json()["event_ids"]) == 1
    shown = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert (shown["sla_due_at"], shown["sla_late"]) == ("2026-12-07T12:00:00Z", False)
    late = await set_state(service, ticket, due_at=None, late=True, stamp=2)
    assert late.json()["ticket"]["sla_late"] is True
    changed = [h for h in await history(client, ticket["id"]) if h["action"] == "updated"]
    assert [(h["field"], h["after"]) for h in changed] == [
        ("sla_due_at", "2026-12-07T12:00:00+00:00"),
        ("sla_due_at", None),
        ("sla_late", True),
    ]
    assert {h["actor"]["kind"] for h in changed} == {"sla_tracker"}


async def test_a_stale_state_changes_nothing(api, client, service):
    ticket = await api.ticket()
    newer = await set_state(service, ticket, due_at=None, late=True, stamp=5)
    assert newer.status_code == 200
    for stamp in (5, 4):
        stale = await set_state(service, ticket, due_at=DUE, late=False, stamp=stamp)
        assert stale.status_code == 200, stale.text
        assert stale.json()["event_ids"] == []
        assert stale.json()["ticket"]["version"] == newer.json()["ticket"]["version"]
    shown = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert (shown["sla_due_at"], shown["sla_late"]) == (None, True)


async def test_only_the_sla_tracker_sets_it(api, service):
    ticket = await api.ticket()
    rule = {"kind": "rule", "id": "rule-1"}
    refused = await set_state(service, ticket, due_at=DUE, late=True, stamp=1, actor=rule)
    assert "sla-tracker" in error_of(refused, 422)["message"]
    for bad in ({"due_at": "2026-12-07T12:00:00", "stamp": 1}, {"due_at": DUE, "stamp": 0}):
        response = await set_state(service, ticket, late=False, **bad)
        error_of(response, 422, "invalid")


async def test_a_deleted_tickets_clock_stopping_is_written(api, client, service):
    ticket = await api.ticket()
    await set_state(service, ticket, due_at=DUE, late=False, stamp=1)
    assert (await client.delete(f"/v1/tickets/{ticket['id']}")).status_code in (200, 204)
    stopped = await set_state(service, ticket, due_at=None, late=False, stamp=2)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["ticket"]["sla_due_at"] is None


async def test_searches_and_lists_see_the_state(api, client, service):
    late, due, untouched = await api.ticket(), await api.ticket(), await api.ticket()
    await set_state(service, late, due_at=None, late=True, stamp=1)
    await set_state(service, due, due_at=DUE, late=False, stamp=1)

    async def search(condition):
        response = await client.post(
            "/v1/tickets/search", json={"conditions": {"any": [{"all": [condition]}]}}
        )
        assert response.status_code == 200, response.text
        return {t["id"] for t in response.json()["items"]}

    ids = {late["id"], due["id"], untouched["id"]}
    assert await search({"field": "sla_late", "op": "is_true"}) & ids == {late["id"]}
    before = {"field": "sla_due_at", "op": "before", "value": "2026-12-08T00:00:00Z"}
    assert await search(before) & ids == {due["id"]}
    assert await search({"field": "sla_due_at", "op": "is_empty"}) & ids == {
        late["id"],
        untouched["id"],
    }
    listed = (await client.get("/v1/tickets", params={"limit": 100})).json()["items"]
    assert {t["id"]: t["sla_late"] for t in listed if t["id"] in ids}[late["id"]] is True
