"""Two router workers on one department at once, with agent events among the decisions:
nobody filled past their maximum, no ticket assigned twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.conftest import Api
from tests.router.conftest import (
    Worker,
    chat_agents_with_room_for,
    feed,
    routed_by_two_routers,
    undelivered_chats,
    undelivered_chats_of_online_agents,
)


async def test_two_routers_racing_on_one_department_never_overfill_or_double_assign(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    await chat_agents_with_room_for(api, router, department, 3, chats=2)
    await worker.drain()
    chats, created = await undelivered_chats(api, worker, department, 12)

    await routed_by_two_routers(worker, created)

    holders = [(await client.get(f"/v1/tickets/{c['id']}")).json()["agent_id"] for c in chats]
    per_agent = Counter(h for h in holders if h)
    assert sorted(per_agent.values()) == [2, 2, 2]
    assert await worker.loads() == dict(per_agent)
    for chat in chats:
        history = (await client.get(f"/v1/tickets/{chat['id']}/history")).json()["items"]
        assert len([h for h in history if h["field"] == "agent_id"]) <= 1


async def test_agent_events_racing_decisions_on_one_department_leave_every_chat_assigned(
    api: Api, client: httpx.AsyncClient, worker: Worker
) -> None:
    agents, chats, created = await undelivered_chats_of_online_agents(
        api, worker, agents=4, chats=12
    )
    # Every agent goes away and comes back: each event hands them waiting work, locking
    # rows while the decisions for the new chats lock theirs.
    for agent in agents:
        for status in ("away", "online"):
            response = await client.put(
                f"/v1/agents/{agent['id']}/availability", json={"availability": {"chat": status}}
            )
            assert response.status_code == 200
    availability = await worker.pump.take_outbox()
    # One agent's events stay in order, as on their partition: each router gets two agents.
    per_agent = [availability[n : n + 2] for n in range(0, len(availability), 2)]
    first_agents = [raw for pair in per_agent[0::2] for raw in pair]
    second_agents = [raw for pair in per_agent[1::2] for raw in pair]

    async with worker.another_router() as second:
        await asyncio.gather(
            feed(worker.pump, created[0::2]),
            feed(second, created[1::2]),
            feed(second, first_agents),
            feed(worker.pump, second_agents),
        )
    # A handler that failed (a deadlock among them) is parked at once here: drain says so.
    await worker.drain()
    holders = Counter(
        [(await client.get(f"/v1/tickets/{c['id']}")).json()["agent_id"] for c in chats]
    )
    assert None not in holders and max(holders.values()) <= 3
    assert await worker.loads() == dict(holders)
