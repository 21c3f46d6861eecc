"""The loads and last assignments the router stores (routing.agent_load) stay exactly what
its ticket rows say, whichever path moves a ticket into or out of an agent's load."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from helpdesk_events import ManualClock
from sqlalchemy import text

from tests.conftest import Api
from tests.router.conftest import (
    Worker,
    another_router,
    feed,
    online_chat_agents,
    redeliver_as_new,
    undelivered_chats,
)


async def holder(client: httpx.AsyncClient, ticket: dict[str, Any]) -> str | None:
    body = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    return body["agent_id"]  # type: ignore[no-any-return]


async def test_stored_loads_stay_as_counted_through_every_path_that_moves_a_ticket(
    api: Api,
    client: httpx.AsyncClient,
    router: httpx.AsyncClient,
    worker: Worker,
    ticket_api_url: str,
    database_url: str,
    clock: ManualClock,
) -> None:
    department = await api.department()
    agents = await online_chat_agents(api, department, 3)
    for agent in agents:
        response = await router.put(
            f"/v1/agents/{agent['id']}/profile/chat", json={"priority": 1, "max_load": 2}
        )
        assert response.status_code == 200
    await worker.drain()

    # Two routers racing on one department: six chats reserved and assigned, two wait.
    chats, created = await undelivered_chats(api, worker, department, 8)
    async with another_router(database_url, ticket_api_url, clock) as second:
        await asyncio.gather(feed(worker.pump, created[0::2]), feed(second, created[1::2]))
    await worker.drain()
    assigned = [c for c in chats if await holder(client, c) is not None]
    assert len(assigned) == 6
    await worker.assert_stored_loads_are_counted()

    # Resolved: the slot frees and a waiting chat flows into it.
    clock.advance(seconds=1)
    response = await client.patch(f"/v1/tickets/{assigned[0]['id']}", json={"status": "resolved"})
    assert response.status_code == 200
    await worker.drain()
    await worker.assert_stored_loads_are_counted()

    # Back to the department unassigned: the slot frees and the chat is routed again.
    clock.advance(seconds=1)
    moved = await client.post(
        f"/v1/tickets/{assigned[1]['id']}/transfer", json={"department_id": department["id"]}
    )
    assert moved.status_code == 200, moved.text
    await worker.drain()
    await worker.assert_stored_loads_are_counted()

    # A person assigns a chat to an agent past their maximum, then moves it to another.
    clock.advance(seconds=1)
    manual = await api.ticket(
        department_id=department["id"], agent_id=agents[0]["id"], channel="chat"
    )
    await worker.drain()
    await worker.assert_stored_loads_are_counted()
    clock.advance(seconds=1)
    response = await client.post(
        f"/v1/tickets/{manual['id']}/transfer", json={"agent_id": agents[1]["id"]}
    )
    assert response.status_code == 200, response.text
    await worker.drain()
    await worker.assert_stored_loads_are_counted()

    # A reservation whose write-back never left (its router was killed), then a person
    # assigns the chat to the agent it was reserved for: only the assignment's time moves.
    spare = await api.department()
    [reserving] = await online_chat_agents(api, spare, 1)
    await worker.drain()
    [late], [late_created] = await undelivered_chats(api, worker, spare, 1)
    clock.advance(seconds=1)
    async with another_router(database_url, "http://127.0.0.1:9", clock) as killed:
        await killed.deliver(*late_created)
    async with worker.db.begin() as conn:
        await conn.execute(text("DELETE FROM routing.dead_event"))
    await worker.assert_stored_loads_are_counted()
    clock.advance(seconds=1)
    response = await client.post(
        f"/v1/tickets/{late['id']}/transfer", json={"agent_id": reserving["id"]}
    )
    assert response.status_code == 200, response.text
    await worker.drain()
    await worker.assert_stored_loads_are_counted()

    # "next" hands an e-mail to an agent.
    clock.advance(seconds=1)
    email = await api.ticket(department_id=department["id"], channel="email")
    await worker.drain()
    taken = await router.post(f"/v1/agents/{agents[2]['id']}/next")
    assert taken.status_code == 200, taken.text
    assert taken.json()["ticket_id"] == email["id"]
    await worker.drain()
    await worker.assert_stored_loads_are_counted()

    # Ring all: an offered chat accepted by one agent.
    ringing = await api.department()
    response = await router.put(
        f"/v1/departments/{ringing['id']}/policies/chat",
        json={"method": "ring_all", "offer_timeout_seconds": 30},
    )
    assert response.status_code == 200, response.text
    [answering] = await online_chat_agents(api, ringing, 1)
    await api.agent([ringing["id"]], availability={"chat": "online"})
    await worker.drain()
    clock.advance(seconds=1)
    offered = await api.ticket(department_id=ringing["id"], channel="chat")
    await worker.drain()
    [offer] = (await router.get(f"/v1/agents/{answering['id']}/offers")).json()["items"]
    accepted = await router.post(
        f"/v1/offers/{offer['id']}/accept", json={"agent_id": answering["id"]}
    )
    assert accepted.status_code == 200, accepted.text
    await worker.drain()
    await worker.assert_stored_loads_are_counted()

    # A chat resolved, its events delivered again as they were and under new ids, the
    # oldest last: only newer versions change a row.
    clock.advance(seconds=1)
    response = await client.patch(f"/v1/tickets/{offered['id']}", json={"status": "resolved"})
    assert response.status_code == 200
    events = await worker.pump.take_outbox()
    for raw in events:
        await worker.pump.deliver(*raw)
    for raw in [*reversed(events), *reversed(created)]:
        await worker.pump.deliver(*raw)
        await redeliver_as_new(worker, raw)
    await worker.drain()

    held = await worker.loads()
    assert sum(held.values()) == 9
    assert answering["id"] not in held
