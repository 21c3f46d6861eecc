"""The "to solve" queue: "next" hands out the oldest waiting ticket, once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Api
from tests.router.conftest import Worker, routed_in_turn


def as_agent(router_app: Any, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(router_app),
        base_url="http://router",
        headers={"Authorization": f"Bearer {key}"},
    )


async def test_next_assigns_the_oldest_waiting_ticket_of_the_agent_s_departments(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, router_app: Any, worker: Worker
) -> None:
    department = await api.department()
    elsewhere = await api.department()
    agent = await api.agent([department["id"]])
    await api.agent([elsewhere["id"]])
    await routed_in_turn(api, worker, elsewhere, 1, channel="email")
    tickets = await routed_in_turn(api, worker, department, 2, channel="email")
    key = await api.agent_key(agent["id"])
    async with as_agent(router_app, key) as me:
        first = await me.post(f"/v1/agents/{agent['id']}/next")
        assert first.status_code == 200, first.text
        assert first.json()["ticket_id"] == tickets[0]["id"]
        second = await me.post(f"/v1/agents/{agent['id']}/next")
        assert second.json()["ticket_id"] == tickets[1]["id"]
        assert (await me.post(f"/v1/agents/{agent['id']}/next")).status_code == 204
    assigned = (await client.get(f"/v1/tickets/{tickets[0]['id']}")).json()
    assert assigned["agent_id"] == agent["id"]
    history = (await client.get(f"/v1/tickets/{tickets[0]['id']}/history")).json()["items"]
    assert [h["actor"]["name"] for h in history if h["field"] == "agent_id"] == [
        "router (next in to-solve queue)"
    ]
    explained = (await router.get(f"/v1/tickets/{tickets[0]['id']}/routing")).json()["items"]
    assert [(d["method"], d["outcome"]) for d in explained] == [
        ("round_robin", "queued"),
        ("pull", "assigned"),
    ]


async def test_two_agents_asking_at_once_never_get_the_same_ticket(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    agents = [await api.agent([department["id"]]) for _ in range(4)]
    await worker.drain()
    tickets = await routed_in_turn(api, worker, department, 3, channel="email")
    answers = await asyncio.gather(*(router.post(f"/v1/agents/{a['id']}/next") for a in agents))
    taken = [r.json()["ticket_id"] for r in answers if r.status_code == 200]
    assert sorted(taken) == sorted(t["id"] for t in tickets)
    assert [r.status_code for r in answers].count(204) == 1
    holders = {(await client.get(f"/v1/tickets/{t}")).json()["agent_id"] for t in taken}
    assert len(holders) == 3


async def test_an_agent_asks_only_for_themselves(
    api: Api, router_app: Any, router: httpx.AsyncClient
) -> None:
    department = await api.department()
    me, colleague = [await api.agent([department["id"]]) for _ in range(2)]
    async with as_agent(router_app, await api.agent_key(me["id"])) as client:
        refused = await client.post(f"/v1/agents/{colleague['id']}/next")
    assert refused.status_code == 403
    unknown = await router.post("/v1/agents/00000000-0000-0000-0000-000000000001/next")
    assert unknown.status_code == 422
    assert "knows no active agent" in unknown.json()["error"]["message"]


async def test_next_refuses_an_agent_at_their_maximum_and_serves_them_once_a_slot_frees(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    agent = await api.agent([department["id"]])
    await api.agent([department["id"]])
    response = await router.put(
        f"/v1/agents/{agent['id']}/profile/email", json={"priority": 1, "max_load": 1}
    )
    assert response.status_code == 200
    tickets = await routed_in_turn(api, worker, department, 2, channel="email")
    first = await router.post(f"/v1/agents/{agent['id']}/next")
    assert first.json()["ticket_id"] == tickets[0]["id"]
    await worker.drain()

    full = await router.post(f"/v1/agents/{agent['id']}/next")
    assert full.status_code == 409
    assert full.json()["error"]["message"].startswith(
        f"agent {agent['id']} is at their maximum load on email (1 of 1)"
    )
    assert (await client.get(f"/v1/tickets/{tickets[1]['id']}")).json()["agent_id"] is None

    resolved = await client.patch(f"/v1/tickets/{tickets[0]['id']}", json={"status": "resolved"})
    assert resolved.status_code == 200
    await worker.drain()
    second = await router.post(f"/v1/agents/{agent['id']}/next")
    assert second.json()["ticket_id"] == tickets[1]["id"]
