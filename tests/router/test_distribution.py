"""The worker end to end on real PostgreSQL: ticket and agent events from ticket-api,
decisions with their explanation, assignments written back through ticket-api's actions
endpoint, loads that stay right."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Api
from tests.router.conftest import Worker, routed_in_turn


async def online_agent(api: Api, department: dict[str, Any], **extra: Any) -> dict[str, Any]:
    availability = extra.pop("availability", {"chat": "online", "email": "online"})
    return await api.agent([department["id"]], availability=availability, **extra)


async def set_availability(
    client: httpx.AsyncClient, agent: dict[str, Any], **channels: str
) -> None:
    response = await client.put(
        f"/v1/agents/{agent['id']}/availability", json={"availability": channels}
    )
    assert response.status_code == 200, response.text


async def colleague_elsewhere(api: Api) -> dict[str, Any]:
    """A second agent, in another department: the account is not a one-agent account."""
    return await api.agent([(await api.department())["id"]])


async def ticket(api: Api, department: dict[str, Any], channel: str = "chat") -> dict[str, Any]:
    return await api.ticket(department_id=department["id"], channel=channel)


async def assignee(client: httpx.AsyncClient, ticket: dict[str, Any]) -> str | None:
    body = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    return body["agent_id"]  # type: ignore[no-any-return]


async def test_a_chat_goes_to_the_least_loaded_agent_and_the_history_names_the_router(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    busy = await online_agent(api, department, name="Busy")
    free = await online_agent(api, department, name="Free")
    await worker.drain()
    first = await ticket(api, department)
    await worker.drain()
    second = await ticket(api, department)
    await worker.drain()
    assert {await assignee(client, first), await assignee(client, second)} == {
        busy["id"],
        free["id"],
    }

    history = (await client.get(f"/v1/tickets/{second['id']}/history")).json()["items"]
    assignment = [h for h in history if h["field"] == "agent_id"]
    assert assignment[-1]["actor"]["kind"] == "router"
    assert assignment[-1]["actor"]["name"] == "router (average_utilization)"

    explained = (await router.get(f"/v1/tickets/{second['id']}/routing")).json()["items"]
    assert [d["outcome"] for d in explained] == ["assigned"]
    decision = explained[0]
    assert decision["method"] == "average_utilization"
    assert decision["reason"] == "least loaded: 0 of 3 slots taken"
    verdicts = {c["agent_id"]: c for c in decision["candidates"]}
    loser = busy["id"] if decision["agent_id"] == free["id"] else free["id"]
    assert verdicts[loser]["outcome"] == "not_chosen"
    assert verdicts[decision["agent_id"]]["outcome"] == "winner"


async def test_email_waits_in_the_queue_of_a_department_left_on_the_defaults(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    await online_agent(api, department)
    await online_agent(api, department)
    waiting = await ticket(api, department, channel="email")
    await worker.drain()
    assert await assignee(client, waiting) is None
    explained = (await router.get(f"/v1/tickets/{waiting['id']}/routing")).json()["items"]
    assert explained[0]["outcome"] == "queued"
    assert "distributes email by pull" in explained[0]["reason"]


async def test_round_robin_assigns_in_turn_over_many_tickets(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    agents = [await online_agent(api, department) for _ in range(3)]
    response = await router.put(
        f"/v1/departments/{department['id']}/policies/email",
        json={"method": "round_robin", "distribution": "push"},
    )
    assert response.status_code == 200, response.text
    await worker.drain()
    emails = await routed_in_turn(api, worker, department, 9, channel="email")
    order = [await assignee(client, e) for e in emails]
    ids = sorted(a["id"] for a in agents)
    assert order == ids * 3


async def test_capacity_is_never_exceeded_and_a_freed_slot_takes_the_oldest_waiting(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    agents = [await online_agent(api, department) for _ in range(2)]
    for agent in agents:
        response = await router.put(
            f"/v1/agents/{agent['id']}/profile/chat", json={"priority": 1, "max_load": 1}
        )
        assert response.status_code == 200, response.text
    await worker.drain()
    chats = await routed_in_turn(api, worker, department, 4)
    holders = [await assignee(client, c) for c in chats]
    assert sorted(h for h in holders[:2] if h) == sorted(a["id"] for a in agents)
    assert holders[2:] == [None, None]
    assert sorted((await worker.loads()).values()) == [1, 1]

    closed = await client.patch(f"/v1/tickets/{chats[0]['id']}", json={"status": "resolved"})
    assert closed.status_code == 200, closed.text
    await worker.drain()
    assert await assignee(client, chats[2]) == holders[0]
    assert await assignee(client, chats[3]) is None
    assert sorted((await worker.loads()).values()) == [1, 1]


async def test_an_agent_coming_online_takes_the_waiting_work_oldest_first(
    api: Api, client: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    agent = await online_agent(api, department, availability={"chat": "offline"})
    await colleague_elsewhere(api)
    await worker.drain()
    chats = await routed_in_turn(api, worker, department, 4)
    assert [await assignee(client, c) for c in chats] == [None] * 4

    await set_availability(client, agent, chat="online")
    await worker.drain()
    # Three chat slots by default: the three oldest.
    assert [await assignee(client, c) for c in chats] == [agent["id"]] * 3 + [None]


async def test_an_agent_going_offline_keeps_their_work_and_new_work_waits(
    api: Api, client: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    agent = await online_agent(api, department)
    await colleague_elsewhere(api)
    await worker.drain()
    held = await ticket(api, department)
    await worker.drain()
    await set_availability(client, agent, chat="offline")
    await worker.drain()
    later = await ticket(api, department)
    await worker.drain()
    assert await assignee(client, held) == agent["id"]
    assert await assignee(client, later) is None


async def test_a_person_s_assignment_is_respected_and_counts_in_the_load(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    department = await api.department()
    chosen = await online_agent(api, department)
    other = await online_agent(api, department)
    response = await router.put(
        f"/v1/agents/{chosen['id']}/profile/chat", json={"priority": 1, "max_load": 1}
    )
    assert response.status_code == 200
    await worker.drain()
    manual = await api.ticket(department_id=department["id"], agent_id=chosen["id"], channel="chat")
    await worker.drain()
    routed = await ticket(api, department)
    await worker.drain()
    assert await assignee(client, manual) == chosen["id"]
    assert await assignee(client, routed) == other["id"]
    assert (await router.get(f"/v1/tickets/{manual['id']}/routing")).json()["items"] == []
    explained = (await router.get(f"/v1/tickets/{routed['id']}/routing")).json()["items"]
    skipped = {c["agent_id"]: c for c in explained[0]["candidates"]}[chosen["id"]]
    assert skipped["skipped_because"] == "full"


async def test_a_transfer_to_a_department_alone_is_routed_there(
    api: Api, client: httpx.AsyncClient, worker: Worker
) -> None:
    first = await api.department()
    second = await api.department()
    await online_agent(api, first, availability={"chat": "offline"})
    target = await online_agent(api, second)
    await worker.drain()
    chat = await ticket(api, first)
    await worker.drain()
    assert await assignee(client, chat) is None
    moved = await client.post(
        f"/v1/tickets/{chat['id']}/transfer", json={"department_id": second["id"]}
    )
    assert moved.status_code == 200, moved.text
    await worker.drain()
    assert await assignee(client, chat) == target["id"]


async def test_a_one_agent_account_gets_every_ticket(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    alone = await api.agent([], availability={"chat": "offline"})
    await worker.drain()
    email = await api.ticket(channel="email", department_id=(await api.department())["id"])
    await worker.drain()
    explained = (await router.get(f"/v1/tickets/{email['id']}/routing")).json()["items"]
    assert await assignee(client, email) == alone["id"], [
        (d["outcome"], d["reason"]) for d in explained
    ]
    assert explained[0]["method"] == "only_agent"


async def test_a_one_agent_account_gets_tickets_without_a_department_too(
    api: Api, client: httpx.AsyncClient, worker: Worker
) -> None:
    home = await api.department()
    alone = await api.agent([home["id"]])
    await worker.drain()
    loose = await api.ticket(channel="email")
    await worker.drain()
    body = (await client.get(f"/v1/tickets/{loose['id']}")).json()
    assert (body["agent_id"], body["department_id"]) == (alone["id"], home["id"])
