"""Responsibility: transfers between departments and agents, and their history."""

from __future__ import annotations

from .helpers import entries, error_of, history

UNKNOWN = "00000000-0000-0000-0000-0000000000aa"


async def transfer(client, ticket, **body):
    return await client.post(f"/v1/tickets/{ticket['id']}/transfer", json=body)


async def current(client, ticket):
    return (await client.get(f"/v1/tickets/{ticket['id']}")).json()


async def test_transfer_to_a_department_alone_leaves_the_ticket_unassigned_there(api, client):
    support, billing = await api.department("Support"), await api.department("Billing")
    alice = await api.agent([support["id"], billing["id"]], name="Alice")
    ticket = await api.ticket(department_id=support["id"], agent_id=alice["id"])

    response = await transfer(client, ticket, department_id=billing["id"])
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["department_id"] == billing["id"]
    # Alice is in Billing too, but a department transfer waits for someone to take it.
    assert moved["agent_id"] is None
    assert moved["agent_status"] is None
    assert moved["version"] == ticket["version"] + 1

    transferred = entries(await history(client, ticket["id"]), "transferred")
    by_field = {h["field"]: h for h in transferred}
    assert set(by_field) == {"department_id", "agent_id"}
    assert (by_field["department_id"]["before"], by_field["department_id"]["after"]) == (
        support["id"],
        billing["id"],
    )
    assert (by_field["agent_id"]["before"], by_field["agent_id"]["after"]) == (alice["id"], None)
    for h in transferred:
        assert h["actor"]["kind"] == "admin"
        assert h["actor"]["id"]
        assert h["actor"]["name"] == "bootstrap admin"


async def test_unassigned_ticket_is_taken_by_the_agent_who_answers(api, client, as_agent):
    support, billing = await api.department(), await api.department()
    bob, bob_client = await as_agent([billing["id"]], name="Bob")
    alice = await api.agent([support["id"]])
    ticket = await api.ticket(department_id=support["id"], agent_id=alice["id"])
    await transfer(client, ticket, department_id=billing["id"])

    reply = await bob_client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"author_kind": "agent", "body": "mine"}
    )
    assert reply.status_code == 201
    after = await current(client, ticket)
    assert (after["department_id"], after["agent_id"]) == (billing["id"], bob["id"])
    last = entries(await history(client, ticket["id"]), "transferred", "agent_id")[-1]
    assert (last["before"], last["after"]) == (None, bob["id"])
    assert last["actor"] == {"kind": "agent", "id": bob["id"], "name": "Bob"}


async def test_transfer_to_agents(api, client):
    support, billing = await api.department(), await api.department()
    alice = await api.agent([support["id"]])
    bob = await api.agent([billing["id"]], availability={"email": "away"})
    carol = await api.agent([billing["id"]])
    ticket = await api.ticket(department_id=support["id"], agent_id=alice["id"])

    moved = (await transfer(client, ticket, department_id=billing["id"], agent_id=bob["id"])).json()
    assert (moved["department_id"], moved["agent_id"]) == (billing["id"], bob["id"])
    assert moved["agent_status"] == "away"

    # A transfer to an agent alone keeps the department.
    moved = (await transfer(client, ticket, agent_id=carol["id"])).json()
    assert (moved["department_id"], moved["agent_id"]) == (billing["id"], carol["id"])
    assert moved["agent_status"] == "offline"

    # Unassign with agent_id null: the ticket stays in its department.
    moved = (await transfer(client, ticket, agent_id=None)).json()
    assert (moved["department_id"], moved["agent_id"]) == (billing["id"], None)

    steps = [
        (h["field"], h["before"], h["after"])
        for h in entries(await history(client, ticket["id"]), "transferred")
    ]
    assert steps == [
        ("department_id", support["id"], billing["id"]),
        ("agent_id", alice["id"], bob["id"]),
        ("agent_id", bob["id"], carol["id"]),
        ("agent_id", carol["id"], None),
    ]


async def test_transfer_to_an_agent_outside_the_department_is_refused(api, client):
    support, sales = await api.department(), await api.department()
    outsider = await api.agent([sales["id"]], name="Otto")
    ticket = await api.ticket(department_id=support["id"])
    before = await history(client, ticket["id"])

    for body in (
        {"agent_id": outsider["id"]},
        {"department_id": support["id"], "agent_id": outsider["id"]},
    ):
        error = error_of(await transfer(client, ticket, **body), 422)
        assert "agent_id" in error["message"]
        assert "Otto" in error["message"]
    assert await current(client, ticket) == ticket
    assert await history(client, ticket["id"]) == before


async def test_transfer_to_unknown_department_or_agent_names_the_field(api, client):
    support = await api.department()
    ticket = await api.ticket(department_id=support["id"])
    error = error_of(await transfer(client, ticket, department_id=UNKNOWN), 422)
    assert error["code"] == "unknown_reference"
    assert "department_id" in error["message"]
    assert UNKNOWN in error["message"]
    error = error_of(await transfer(client, ticket, agent_id=UNKNOWN), 422, "unknown_reference")
    assert "agent_id" in error["message"]
    # A transfer needs somewhere to go.
    error_of(await transfer(client, ticket), 422)
    assert await current(client, ticket) == ticket


async def test_transfer_to_a_deactivated_agent_is_refused(api, client):
    support = await api.department()
    gone = await api.agent([support["id"]])
    await client.patch(f"/v1/agents/{gone['id']}", json={"active": False})
    ticket = await api.ticket(department_id=support["id"])
    error = error_of(await transfer(client, ticket, agent_id=gone["id"]), 422)
    assert "deactivated" in error["message"]


async def test_transfer_through_patch(api, client):
    support, billing = await api.department(), await api.department()
    alice = await api.agent([support["id"]])
    ticket = await api.ticket(department_id=support["id"], agent_id=alice["id"])
    moved = (
        await client.patch(f"/v1/tickets/{ticket['id']}", json={"department_id": billing["id"]})
    ).json()
    assert (moved["department_id"], moved["agent_id"]) == (billing["id"], None)

    # A transfer to where the ticket already is records nothing.
    support = await api.department()
    alice = await api.agent([support["id"]])
    ticket = await api.ticket(department_id=support["id"], agent_id=alice["id"])
    same = (
        await transfer(client, ticket, department_id=support["id"], agent_id=alice["id"])
    ).json()
    assert same["version"] == ticket["version"]
    assert entries(await history(client, ticket["id"]), "transferred") == []


async def test_every_transfer_is_in_the_history_in_order(api, client):
    a, b = await api.department("A"), await api.department("B")
    x = await api.agent([a["id"]])
    y = await api.agent([b["id"]])
    ticket = await api.ticket()
    await transfer(client, ticket, department_id=a["id"])
    await transfer(client, ticket, agent_id=x["id"])
    await transfer(client, ticket, department_id=b["id"], agent_id=y["id"])
    await transfer(client, ticket, department_id=None)
    steps = [
        (h["field"], h["before"], h["after"])
        for h in entries(await history(client, ticket["id"]), "transferred")
    ]
    assert steps == [
        ("department_id", None, a["id"]),
        ("agent_id", None, x["id"]),
        ("department_id", a["id"], b["id"]),
        ("agent_id", x["id"], y["id"]),
        ("department_id", b["id"], None),
        ("agent_id", y["id"], None),
    ]
