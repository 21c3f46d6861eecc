"""Loads stay right whatever the broker does: events delivered twice, late, or again
under a new id after the ticket moved on."""

from __future__ import annotations

import httpx

from tests.conftest import Api
from tests.router.conftest import (
    Worker,
    redeliver_as_new,
    undelivered_chats,
    undelivered_chats_of_online_agents,
)


async def test_late_and_repeated_events_leave_loads_as_the_newest_event_says(
    api: Api, client: httpx.AsyncClient, worker: Worker
) -> None:
    agents, [chat], [created] = await undelivered_chats_of_online_agents(
        api, worker, agents=2, chats=1
    )
    await worker.pump.deliver(*created)
    [assigned] = await worker.pump.take_outbox()
    await worker.pump.deliver(*assigned)
    holder = (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"]
    assert holder in {a["id"] for a in agents}
    assert await worker.loads() == {holder: 1}

    resolved = await client.patch(f"/v1/tickets/{chat['id']}", json={"status": "resolved"})
    assert resolved.status_code == 200
    [closed] = await worker.pump.take_outbox()
    await worker.pump.deliver(*closed)
    assert await worker.loads() == {}

    # Delivered again, out of order, as they were (dedupe) and under new ids (versions).
    for raw in (closed, created, assigned):
        await worker.pump.deliver(*raw)
        await redeliver_as_new(worker, raw)
    await worker.drain()
    assert await worker.loads() == {}
    history = (await client.get(f"/v1/tickets/{chat['id']}/history")).json()["items"]
    assert [h["actor"]["kind"] for h in history if h["field"] == "agent_id"] == ["router"]


async def test_an_assignment_seen_before_the_creation_is_not_undone(
    api: Api, client: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    person_s_choice = await api.agent([department["id"]], availability={"chat": "online"})
    await api.agent([department["id"]], availability={"chat": "online"})
    await worker.drain()
    [chat], [created] = await undelivered_chats(api, worker, department, 1)
    moved = await client.post(
        f"/v1/tickets/{chat['id']}/transfer", json={"agent_id": person_s_choice["id"]}
    )
    assert moved.status_code == 200, moved.text
    [transferred] = await worker.pump.take_outbox()
    await worker.pump.deliver(*transferred)
    await worker.pump.deliver(*created)
    await worker.drain()
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"] == (
        person_s_choice["id"]
    )
    assert await worker.loads() == {person_s_choice["id"]: 1}
