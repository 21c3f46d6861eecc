"""Creating a ticket (tickets/creation.py): one statement writes every new ticket, from the
commonest (a customer known by e-mail writes in) to one with everything set; what it stores
and publishes must equal what it answers."""

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def outbox_events(database_url):
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT payload FROM tickets.outbox ORDER BY id"))
            ).all()
    finally:
        await engine.dispose()
    return [orjson.loads(r.payload) for r in rows]


async def test_known_customer_with_groups(api, client, database_url):
    groups = [
        (await client.post("/v1/customer-groups", json={"name": n})).json()["id"]
        for n in ("VIP", "EU")
    ]
    customer = (
        await client.post(
            "/v1/customers", json={"email": "Vera@Example.com", "name": "Vera", "group_ids": groups}
        )
    ).json()
    first = await api.ticket(customer={"email": "vera@example.com"}, subject="One")
    second = await api.ticket(
        customer={"email": "VERA@example.com", "name": "Vera V."}, subject="Two"
    )

    for ticket in (first, second):
        assert ticket["customer_id"] == customer["id"]
        assert ticket["customer_email"] == "vera@example.com"
        assert ticket["customer_group_ids"] == sorted(groups)
        assert ticket["last_message"]["author_id"] == customer["id"]
        assert (await client.get(f"/v1/tickets/{ticket['id']}")).json() == ticket
    assert (first["code"], second["code"]) == ("T-000001", "T-000002")

    events = await outbox_events(database_url)
    assert [e["type"] for e in events] == ["ticket.created", "ticket.created"]
    assert events[0]["ticket"] == first
    assert events[0]["message"]["author_id"] == customer["id"]
    history = (await client.get(f"/v1/tickets/{first['id']}/history")).json()["items"]
    assert history[0]["action"] == "created"
    assert history[0]["after"]["customer_id"] == customer["id"]
    # A known customer keeps their name unless a ticket brings one.
    assert (await client.get(f"/v1/customers/{customer['id']}")).json()["name"] == "Vera V."


async def test_new_customer_and_no_message(api, client, database_url):
    ticket = await api.ticket(customer={"email": "new@example.com"}, message=None)
    customers = (await client.get("/v1/customers", params={"email": "new@example.com"})).json()[
        "items"
    ]
    assert [c["id"] for c in customers] == [ticket["customer_id"]]
    assert ticket["customer_group_ids"] == [] and ticket["message_count"] == 0
    (event,) = await outbox_events(database_url)
    assert event["ticket"] == ticket and event["message"] is None


async def test_a_ticket_with_everything_set_is_written_as_answered(api, client, database_url):
    billing = await api.department("Billing")
    agent = await api.agent([billing["id"]], availability={"email": "online"})
    field = await client.post(
        "/v1/custom-fields", json={"key": "order", "label": "Order", "type": "text"}
    )
    assert field.status_code == 201, field.text
    customer = (
        await client.post("/v1/customers", json={"email": "ida@example.com", "name": "Ida"})
    ).json()
    response = await client.post(
        "/v1/tickets",
        json={
            "subject": "Refund",
            "customer_id": customer["id"],
            "department_id": billing["id"],
            "agent_id": agent["id"],
            "tags": ["refund", "vip", "refund"],
            "custom_fields": {"order": "A-17"},
            "message": {"body": "Refunded.", "author_kind": "agent", "author_id": agent["id"]},
        },
        headers={"Idempotency-Key": "everything"},
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert (ticket["customer_id"], ticket["customer_email"]) == (customer["id"], "ida@example.com")
    assert (ticket["department_id"], ticket["agent_id"]) == (billing["id"], agent["id"])
    assert (ticket["agent_status"], ticket["status"]) == ("online", "answered")
    assert (ticket["tags"], ticket["custom_fields"]) == (["refund", "vip"], {"order": "A-17"})
    assert ticket["last_message"]["author_id"] == agent["id"]
    assert (await client.get(f"/v1/tickets/{ticket['id']}")).json() == ticket
    event = (await outbox_events(database_url))[-1]
    assert event["type"] == "ticket.created" and event["ticket"] == ticket
    assert event["message"] == ticket["last_message"]
    (created,) = (await client.get(f"/v1/tickets/{ticket['id']}/history")).json()["items"]
    assert created["action"] == "created" and created["event_id"] == event["id"]
    assert created["after"]["tags"] == ["refund", "vip"]
    assert created["after"]["agent_id"] == agent["id"]
    tags = (await client.get("/v1/tags")).json()
    assert {"refund", "vip"} <= {t["name"] for t in tags["items"]}
