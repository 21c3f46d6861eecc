"""The agents a batch of write-backs names are read with its tickets (one statement per
round): each write-back is still checked as ``POST /v1/tickets/{id}/actions`` checks it
alone — an agent unknown, deactivated or outside the department is refused, one in it
takes the ticket with their availability."""

from __future__ import annotations

import uuid
from typing import Any

from .helpers import entries, history
from .test_writeback_batch import RULE, current, item, results_of

UNKNOWN = str(uuid.uuid4())


def transfer(**target: str) -> list[dict[str, Any]]:
    return [{"type": "transfer", **target}]


async def test_each_transfer_checks_its_agent_as_the_single_endpoint_does(api, client, service):
    support, sales = await api.department("Support"), await api.department("Sales")
    alice = await api.agent([support["id"]], name="Alice", availability={"chat": "online"})
    otto = await api.agent([sales["id"]], name="Otto")
    gone = await api.agent([support["id"]], name="Gone")
    await client.patch(f"/v1/agents/{gone['id']}", json={"active": False})
    tickets = [await api.ticket(department_id=support["id"], channel="chat") for _ in range(5)]
    transfers = [
        transfer(agent_id=alice["id"]),
        transfer(agent_id=otto["id"]),
        transfer(agent_id=gone["id"]),
        transfer(agent_id=UNKNOWN),
        transfer(department_id=sales["id"], agent_id=otto["id"]),
    ]
    results = await results_of(
        service, [item(t["id"], actions) for t, actions in zip(tickets, transfers, strict=True)]
    )

    assert [r["status"] for r in results] == [200, 422, 422, 422, 200]
    assigned = results[0]["body"]["ticket"]
    assert (assigned["agent_id"], assigned["agent_status"]) == (alice["id"], "online")
    assert assigned == await current(client, tickets[0]["id"])
    moved = results[4]["body"]["ticket"]
    assert (moved["department_id"], moved["agent_id"]) == (sales["id"], otto["id"])
    assert "Otto is not in department" in results[1]["body"]["error"]["message"]
    assert "Gone is deactivated" in results[2]["body"]["error"]["message"]
    assert results[3]["body"]["error"]["code"] == "unknown_reference"
    for ticket, actions, result in zip(tickets[1:4], transfers[1:4], results[1:4], strict=True):
        alone = await service.post(
            f"/v1/tickets/{ticket['id']}/actions",
            json={"actor": RULE, "actions": actions},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert (alone.status_code, alone.json()) == (result["status"], result["body"])
        assert await current(client, ticket["id"]) == ticket
    by_field = {
        h["field"]: h for h in entries(await history(client, tickets[4]["id"]), "transferred")
    }
    assert by_field["agent_id"]["after"] == otto["id"]
    assert by_field["department_id"]["after"] == sales["id"]


async def test_a_message_by_an_agent_checks_the_agent(api, client, service):
    support = await api.department()
    alice = await api.agent([support["id"]], availability={"email": "away"})
    answered, refused = [await api.ticket(department_id=support["id"]) for _ in range(2)]

    def reply(author_id: str) -> list[dict[str, Any]]:
        return [
            {"type": "add_message", "author_kind": "agent", "author_id": author_id, "body": "Hi"}
        ]

    results = await results_of(
        service, [item(answered["id"], reply(alice["id"])), item(refused["id"], reply(UNKNOWN))]
    )

    assert [r["status"] for r in results] == [200, 422]
    # Answering took the unassigned ticket, with the agent's availability on its channel.
    taken = results[0]["body"]["ticket"]
    assert (taken["agent_id"], taken["agent_status"]) == (alice["id"], "away")
    assert results[1]["body"]["error"]["code"] == "unknown_reference"
    assert await current(client, refused["id"]) == refused
