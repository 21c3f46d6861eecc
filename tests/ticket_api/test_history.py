"""The ticket history: every change, who made it, and the value before and after."""

from __future__ import annotations

import uuid
from datetime import datetime

from .helpers import entries, error_of, history, pages


async def test_every_kind_of_change_is_in_the_history(api, client, service, clock, as_agent):
    await client.post(
        "/v1/custom-fields", json={"key": "order_no", "label": "Order", "type": "number"}
    )
    support, billing = await api.department("Support"), await api.department("Billing")
    alice, alice_client = await as_agent([support["id"]], name="Alice")
    ticket = await api.ticket(
        subject="Printer", department_id=support["id"], customer={"email": "c@example.com"}
    )
    tid = ticket["id"]
    url = f"/v1/tickets/{tid}"

    async def ok(response):
        assert response.status_code in (200, 201, 204), response.text

    clock.advance(minutes=1)
    await ok(await alice_client.patch(url, json={"priority": "high"}))
    await ok(await alice_client.patch(url, json={"subject": "Printer on fire"}))
    await ok(await client.patch(url, json={"sla_level": "gold"}))
    await ok(await client.patch(url, json={"custom_fields": {"order_no": 42}}))
    await ok(await client.patch(url, json={"tags": ["vip"]}))
    await ok(await client.post(f"{url}/tags", json={"tags": ["urgent"]}))
    await ok(await client.patch(url, json={"status": "open"}))
    await ok(await client.post(f"{url}/transfer", json={"department_id": billing["id"]}))
    await ok(await client.post(f"{url}/transfer", json={"department_id": support["id"]}))
    await ok(
        await alice_client.post(
            f"{url}/messages", json={"author_kind": "agent", "internal": True, "body": "hmm"}
        )
    )
    await ok(
        await alice_client.post(f"{url}/messages", json={"author_kind": "agent", "body": "ok"})
    )
    await ok(await service.post(f"{url}/ratings", json={"rating": "good"}))
    await ok(await client.delete(url))
    await ok(await client.post(f"{url}/restore"))
    await ok(await client.patch(url, json={"status": "spam"}))
    await ok(await client.post(f"{url}/purge"))

    items = await history(client, tid)
    admin = ("admin", "bootstrap admin")
    agent = ("agent", "Alice")
    now = clock.now().isoformat()
    summary = [
        (h["action"], h["field"], h["before"], h["after"], (h["actor"]["kind"], h["actor"]["name"]))
        for h in items
        if h["action"] not in ("created", "message_added", "note_added", "rated", "purged")
    ]
    assert summary == [
        ("updated", "priority", "medium", "high", agent),
        ("updated", "subject", "Printer", "Printer on fire", agent),
        ("updated", "sla_level", None, "gold", admin),
        ("updated", "custom_fields", {}, {"order_no": 42}, admin),
        ("tags_changed", "tags", [], ["vip"], admin),
        ("tags_changed", "tags", ["vip"], ["vip", "urgent"], admin),
        ("status_changed", "status", "new", "open", admin),
        ("transferred", "department_id", support["id"], billing["id"], admin),
        ("transferred", "department_id", billing["id"], support["id"], admin),
        ("transferred", "agent_id", None, alice["id"], agent),
        ("status_changed", "status", "open", "answered", agent),
        ("deleted", "status", "answered", "deleted", admin),
        ("deleted", "deleted_at", None, now, admin),
        ("restored", "status", "deleted", "open", admin),
        ("restored", "deleted_at", now, None, admin),
        ("status_changed", "status", "open", "spam", admin),
    ]
    actions = [h["action"] for h in items]
    assert actions.index("note_added") < actions.index("message_added") < actions.index("rated")

    [created] = entries(items, "created")
    assert created is items[0]
    assert created["before"] is None
    assert created["after"]["subject"] == "Printer"
    assert created["after"]["department_id"] == support["id"]
    assert created["after"]["customer_id"] == ticket["customer_id"]
    assert created["actor"]["kind"] == "admin"

    [note] = entries(items, "note_added")
    assert note["actor"] == {"kind": "agent", "id": alice["id"], "name": "Alice"}
    assert note["after"]["author_kind"] == "agent"
    [message] = entries(items, "message_added")
    assert message["actor"]["id"] == alice["id"]
    assert message["after"]["author_id"] == alice["id"]
    [rated] = entries(items, "rated")
    assert rated["actor"]["kind"] == "customer"
    assert rated["after"] == {"rating": "good", "agent_id": alice["id"]}
    [purged] = entries(items, "purged")
    assert purged is items[-1]
    assert purged["actor"]["kind"] == "admin"

    for h in items:
        assert h["event_id"] is not None
        assert h["correlation_id"] is not None
        assert h["depth"] == 0
        assert h["actor"]["id"]
    assert [h["id"] for h in items] == sorted(h["id"] for h in items)


async def test_history_entries_carry_time_and_correlation(api, client, clock):
    ticket = await api.ticket()
    clock.advance(hours=5)
    correlation = str(uuid.uuid4())
    response = await client.patch(
        f"/v1/tickets/{ticket['id']}",
        json={"priority": "low", "status": "resolved"},
        headers={"X-Correlation-Id": correlation},
    )
    assert response.status_code == 200
    items = await history(client, ticket["id"])
    changes = items[1:]
    assert {(h["action"], h["field"]) for h in changes} == {
        ("updated", "priority"),
        ("status_changed", "status"),
    }
    for h in changes:
        assert h["correlation_id"] == correlation
        assert h["causation_id"] is None
        assert datetime.fromisoformat(h["occurred_at"]) == clock.now()
    # Different changes come from different events.
    assert len({h["event_id"] for h in changes}) == 2
    assert items[0]["correlation_id"] != correlation


async def test_changes_made_with_the_service_key_name_the_service(api, service):
    ticket = await api.ticket()
    await service.patch(f"/v1/tickets/{ticket['id']}", json={"priority": "urgent"})
    [change] = entries(await history(service, ticket["id"]), "updated", "priority")
    assert change["actor"]["kind"] == "service"
    assert change["actor"]["name"] == "bootstrap service"


async def test_history_pagination(api, client):
    ticket = await api.ticket()
    for priority in ["low", "high", "urgent", "medium", "low"]:
        await client.patch(f"/v1/tickets/{ticket['id']}", json={"priority": priority})
    everything = await history(client, ticket["id"])
    assert len(everything) == 6
    listed = await pages(client, f"/v1/tickets/{ticket['id']}/history", limit=4)
    assert [entry for page in listed for entry in page] == everything

    for bad in ["nope", "WyJ4Il0", "W10"]:  # garbage, ["x"], []
        response = await client.get(f"/v1/tickets/{ticket['id']}/history", params={"cursor": bad})
        error_of(response, 422, "invalid_cursor")
    error_of(await client.get(f"/v1/tickets/{uuid.uuid4()}/history"), 404, "not_found")
