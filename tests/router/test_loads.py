"""The loads and last assignments the router stores (routing.agent_load) stay exactly what
its ticket rows say, whichever path moves a ticket into or out of an agent's load."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text

from tests.conftest import Api
from tests.router.conftest import (
    Worker,
    chat_agents_with_room_for,
    online_chat_agents,
    redeliver_as_new,
    routed_by_two_routers,
    undelivered_chats,
    undelivered_chats_of_online_agents,
)


async def moved(worker: Worker, request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """A second later, one change through an API, the events it causes delivered; then the
    stored loads are still as counted."""
    worker.clock.advance(seconds=1)
    response = await request()
    assert response.status_code == 200, response.text
    await worker.drain()
    await worker.assert_stored_loads_are_counted()
    return response


async def test_stored_loads_stay_as_counted_through_every_path_that_moves_a_ticket(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    agents = await chat_agents_with_room_for(api, router, department, 3, chats=2)
    await worker.drain()

    # Two routers racing on one department: six chats reserved and assigned, two wait.
    chats, created = await undelivered_chats(api, worker, department, 8)
    await routed_by_two_routers(worker, created)
    holders = [(await client.get(f"/v1/tickets/{c['id']}")).json()["agent_id"] for c in chats]
    assigned = [c for c, h in zip(chats, holders, strict=True) if h is not None]
    assert len(assigned) == 6
    await worker.assert_stored_loads_are_counted()

    # Resolved: the slot frees and a waiting chat flows into it.
    await moved(
        worker,
        lambda: client.patch(f"/v1/tickets/{assigned[0]['id']}", json={"status": "resolved"}),
    )
    # Back to the department unassigned: the slot frees and the chat is routed again.
    transfer = f"/v1/tickets/{assigned[1]['id']}/transfer"
    await moved(worker, lambda: client.post(transfer, json={"department_id": department["id"]}))

    # A person assigns a chat to an agent past their maximum, then moves it to another.
    worker.clock.advance(seconds=1)
    manual = await api.ticket(
        department_id=department["id"], agent_id=agents[0]["id"], channel="chat"
    )
    await worker.drain()
    await worker.assert_stored_loads_are_counted()
    transfer = f"/v1/tickets/{manual['id']}/transfer"
    await moved(worker, lambda: client.post(transfer, json={"agent_id": agents[1]["id"]}))

    # A reservation whose write-back never left (its router was killed), then a person
    # assigns the chat to the agent it was reserved for: only the assignment's time moves.
    [reserving], [late], [late_created] = await undelivered_chats_of_online_agents(
        api, worker, agents=1, chats=1
    )
    worker.clock.advance(seconds=1)
    async with worker.unanswered_router() as killed:
        await killed.deliver(*late_created)
    async with worker.db.begin() as conn:
        await conn.execute(text("DELETE FROM routing.dead_event"))
    await worker.assert_stored_loads_are_counted()
    transfer = f"/v1/tickets/{late['id']}/transfer"
    await moved(worker, lambda: client.post(transfer, json={"agent_id": reserving["id"]}))

    # "next" hands an e-mail to an agent.
    email = await api.ticket(department_id=department["id"], channel="email")
    await worker.drain()
    taken = await moved(worker, lambda: router.post(f"/v1/agents/{agents[2]['id']}/next"))
    assert taken.json()["ticket_id"] == email["id"]

    # Ring all: an offered chat accepted by one agent.
    ringing = await api.department()
    response = await router.put(
        f"/v1/departments/{ringing['id']}/policies/chat",
        json={"method": "ring_all", "offer_timeout_seconds": 30},
    )
    assert response.status_code == 200, response.text
    answering, _ = await online_chat_agents(api, ringing, 2)
    await worker.drain()
    offered = await api.ticket(department_id=ringing["id"], channel="chat")
    await worker.drain()
    [offer] = (await router.get(f"/v1/agents/{answering['id']}/offers")).json()["items"]
    accept = f"/v1/offers/{offer['id']}/accept"
    await moved(worker, lambda: router.post(accept, json={"agent_id": answering["id"]}))

    # A chat resolved, its events delivered again as they were and under new ids, the
    # oldest last: only newer versions change a row.
    worker.clock.advance(seconds=1)
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
