"""Agent ratings: a customer rates the agent responsible for their ticket."""

from __future__ import annotations

from datetime import datetime

from .helpers import entries, error_of, history


async def test_rating_records_the_agent_assigned_at_that_time(api, client, service, clock):
    support = await api.department()
    alice, bob = await api.agent([support["id"]]), await api.agent([support["id"]])
    ticket = await api.ticket(
        department_id=support["id"],
        agent_id=alice["id"],
        customer={"email": "cleo@example.com", "name": "Cleo"},
    )
    clock.advance(days=1)
    response = await service.post(
        f"/v1/tickets/{ticket['id']}/ratings", json={"rating": "good", "comment": "Fast!"}
    )
    assert response.status_code == 201, response.text
    rating = response.json()
    assert rating["agent_id"] == alice["id"]
    assert rating["customer_id"] == ticket["customer_id"]
    assert rating["rating"] == "good"
    assert rating["comment"] == "Fast!"
    assert datetime.fromisoformat(rating["created_at"]) == clock.now()

    # A later transfer does not move the rating to the new agent.
    await client.post(f"/v1/tickets/{ticket['id']}/transfer", json={"agent_id": bob["id"]})
    second = (
        await client.post(f"/v1/tickets/{ticket['id']}/ratings", json={"rating": "bad"})
    ).json()
    assert second["agent_id"] == bob["id"]

    listed = (await client.get(f"/v1/tickets/{ticket['id']}/ratings")).json()
    assert [(r["agent_id"], r["rating"]) for r in listed] == [
        (alice["id"], "good"),
        (bob["id"], "bad"),
    ]

    rated = entries(await history(client, ticket["id"]), "rated")
    assert [(h["after"]["rating"], h["after"]["agent_id"]) for h in rated] == [
        ("good", alice["id"]),
        ("bad", bob["id"]),
    ]
    assert rated[0]["actor"] == {"kind": "customer", "id": ticket["customer_id"], "name": "Cleo"}


async def test_agents_cannot_rate(api, client, as_agent):
    support = await api.department()
    agent, agent_client = await as_agent([support["id"]])
    ticket = await api.ticket(department_id=support["id"], agent_id=agent["id"])
    response = await agent_client.post(
        f"/v1/tickets/{ticket['id']}/ratings", json={"rating": "good"}
    )
    assert "agent" in error_of(response, 403, "forbidden")["message"]
    assert (await client.get(f"/v1/tickets/{ticket['id']}/ratings")).json() == []
    assert entries(await history(client, ticket["id"]), "rated") == []


async def test_invalid_ratings_are_refused(api, client):
    ticket = await api.ticket()
    for body in ({"rating": "excellent"}, {}, {"rating": "good", "stars": 5}):
        response = await client.post(f"/v1/tickets/{ticket['id']}/ratings", json=body)
        error_of(response, 422, "invalid")
    assert (await client.get(f"/v1/tickets/{ticket['id']}/ratings")).json() == []
    response = await client.post(
        "/v1/tickets/00000000-0000-0000-0000-000000000000/ratings", json={"rating": "good"}
    )
    error_of(response, 404, "not_found")

    # A valid rating of an unassigned ticket records no agent.
    rating = (
        await client.post(f"/v1/tickets/{ticket['id']}/ratings", json={"rating": "neutral"})
    ).json()
    assert rating["agent_id"] is None


async def test_a_deleted_ticket_cannot_be_rated(api, client):
    ticket = await api.ticket()
    assert (await client.delete(f"/v1/tickets/{ticket['id']}")).status_code == 200
    response = await client.post(f"/v1/tickets/{ticket['id']}/ratings", json={"rating": "bad"})
    error = error_of(response, 409, "ticket_deleted")
    assert "restore it" in error["message"]
    assert (await client.get(f"/v1/tickets/{ticket['id']}/ratings")).json() == []
    # Restored, it can be rated again.
    assert (await client.post(f"/v1/tickets/{ticket['id']}/restore")).status_code == 200
    response = await client.post(f"/v1/tickets/{ticket['id']}/ratings", json={"rating": "good"})
    assert response.status_code == 201, response.text
