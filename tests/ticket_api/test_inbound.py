"""The single-statement path for the commonest new ticket: a customer known by e-mail
writes in. What it stores and publishes must equal what the general path would."""

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
