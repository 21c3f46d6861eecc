"""Ring all: one offer to every eligible agent (published, so their chats ring), the first
accept wins, the rest get 409; an offer nobody takes expires by the clock and a missed chat
is published."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from helpdesk_events import ManualClock
from sqlalchemy import text

from tests.conftest import Api
from tests.router.conftest import Worker, online_chat_agents


async def ring_all_department(
    api: Api, router: httpx.AsyncClient, worker: Worker, agents: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    department = await api.department()
    response = await router.put(
        f"/v1/departments/{department['id']}/policies/chat",
        json={"method": "ring_all", "offer_timeout_seconds": 30},
    )
    assert response.status_code == 200, response.text
    members = await online_chat_agents(api, department, agents)
    await api.agent([department["id"]], availability={"chat": "offline"})
    await worker.drain()
    return department, members


async def the_offer(router: httpx.AsyncClient, agent: dict[str, Any]) -> dict[str, Any]:
    [offer] = (await router.get(f"/v1/agents/{agent['id']}/offers")).json()["items"]
    return offer  # type: ignore[no-any-return]


async def published(worker: Worker, event_type: str) -> list[dict[str, Any]]:
    """The router's events of ``event_type`` in its outbox, in the order they were written."""
    async with worker.db.connect() as conn:
        payloads = (
            (await conn.execute(text("SELECT payload FROM routing.outbox ORDER BY id")))
            .scalars()
            .all()
        )
    return [e for e in map(orjson.loads, payloads) if e["type"] == event_type]


async def offered_chat(
    api: Api, router: httpx.AsyncClient, worker: Worker, agents: int
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """A chat in a ring-all department of ``agents`` online agents, offered to them all:
    the agents, the chat and the first agent's offer."""
    department, members = await ring_all_department(api, router, worker, agents)
    chat = await api.ticket(department_id=department["id"], channel="chat")
    await worker.drain()
    return members, chat, await the_offer(router, members[0])


async def test_the_first_agent_to_accept_gets_the_chat_and_the_others_see_it_taken(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    agents, chat, offer = await offered_chat(api, router, worker, 3)
    assert offer["ticket_id"] == chat["id"]
    assert [await the_offer(router, a) for a in agents[1:]] == [offer, offer]

    answers = await asyncio.gather(
        *(
            router.post(f"/v1/offers/{offer['id']}/accept", json={"agent_id": a["id"]})
            for a in agents
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 409, 409], [r.text for r in answers]
    winner = next(r.json()["agent_id"] for r in answers if r.status_code == 200)
    loser = next(r for r in answers if r.status_code == 409)
    assert loser.json()["error"]["message"] == f"taken: agent {winner} accepted this offer first"
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"] == winner
    assert await worker.loads() == {winner: 1}
    explained = (await router.get(f"/v1/tickets/{chat['id']}/routing")).json()["items"]
    assert [d["outcome"] for d in explained] == ["offered", "assigned"]
    offered = [c["outcome"] for c in explained[0]["candidates"]]
    assert sorted(offered) == ["offered", "offered", "offered", "skipped"]
    await worker.drain()
    assert (await router.get(f"/v1/agents/{agents[0]['id']}/offers")).json()["items"] == []


async def test_an_agent_accepts_only_offers_made_to_them(
    api: Api, router: httpx.AsyncClient, worker: Worker
) -> None:
    department, agents = await ring_all_department(api, router, worker, 1)
    outsider = await api.agent([department["id"]], availability={"chat": "offline"})
    await worker.drain()
    await api.ticket(department_id=department["id"], channel="chat")
    await worker.drain()
    offer = await the_offer(router, agents[0])
    refused = await router.post(
        f"/v1/offers/{offer['id']}/accept", json={"agent_id": outsider["id"]}
    )
    assert refused.status_code == 403
    no_agent = await router.post(f"/v1/offers/{offer['id']}/accept")
    assert no_agent.status_code == 422


async def test_an_offer_nobody_accepts_expires_and_the_missed_chat_is_published(
    api: Api,
    client: httpx.AsyncClient,
    router: httpx.AsyncClient,
    worker: Worker,
    clock: ManualClock,
) -> None:
    agents, chat, offer = await offered_chat(api, router, worker, 2)

    clock.advance(seconds=29)
    assert (await router.post("/v1/offers/expire")).json() == {"expired": 0}
    clock.advance(seconds=1)
    assert (await router.post("/v1/offers/expire")).json() == {"expired": 1}

    late = await router.post(f"/v1/offers/{offer['id']}/accept", json={"agent_id": agents[0]["id"]})
    assert late.status_code == 409
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"] is None
    explained = (await router.get(f"/v1/tickets/{chat['id']}/routing")).json()["items"]
    assert [d["outcome"] for d in explained] == ["offered", "missed"]
    [missed] = await published(worker, "chat.missed")
    assert missed["ticket_id"] == chat["id"]
    assert sorted(missed["offered_to"]) == sorted(a["id"] for a in agents)

    # Offered again when an agent comes (back) online.
    for status in ("offline", "online"):
        response = await client.put(
            f"/v1/agents/{agents[0]['id']}/availability", json={"availability": {"chat": status}}
        )
        assert response.status_code == 200
        await worker.drain()
    again = await the_offer(router, agents[1])
    assert again["ticket_id"] == chat["id"] and again["id"] != offer["id"]
    # The new offer rings its agents again.
    rings = await published(worker, "chat.offered")
    assert [r["offer_id"] for r in rings] == [offer["id"], again["id"]]
    assert sorted(rings[1]["offered_to"]) == sorted(a["id"] for a in agents)


async def test_an_offered_chat_is_published_to_the_agents_it_rings(
    api: Api, router: httpx.AsyncClient, worker: Worker
) -> None:
    agents, chat, offer = await offered_chat(api, router, worker, 2)
    [ringing] = await published(worker, "chat.offered")
    assert ringing["ticket_id"] == chat["id"]
    assert ringing["department_id"] == chat["department_id"]
    assert ringing["offer_id"] == offer["id"]
    # Not the department's offline agent: only those the chat was offered to.
    assert sorted(ringing["offered_to"]) == sorted(a["id"] for a in agents)
    offered_at = datetime.fromisoformat(ringing["occurred_at"])
    assert datetime.fromisoformat(ringing["expires_at"]) == offered_at + timedelta(seconds=30)


async def test_a_person_assigning_an_offered_chat_withdraws_the_offer(
    api: Api, client: httpx.AsyncClient, router: httpx.AsyncClient, worker: Worker
) -> None:
    agents, chat, offer = await offered_chat(api, router, worker, 2)
    moved = await client.post(
        f"/v1/tickets/{chat['id']}/transfer", json={"agent_id": agents[1]["id"]}
    )
    assert moved.status_code == 200
    await worker.drain()
    taken = await router.post(
        f"/v1/offers/{offer['id']}/accept", json={"agent_id": agents[0]["id"]}
    )
    assert taken.status_code == 409
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"] == agents[1]["id"]
