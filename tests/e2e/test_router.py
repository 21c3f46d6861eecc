"""The router as real processes: ticket-api, relay, router API and worker. Tickets created
through the API are assigned, the history says by whom and how, and a kill -9 of the worker
mid-stream loses no ticket and assigns none twice."""

from collections import Counter

import httpx
import pytest

from tests.e2e.api_and_worker import behind_ticket_api
from tests.e2e.helpers import post_ticket, wait_until

pytestmark = pytest.mark.e2e


async def create_chats(client: httpx.AsyncClient, department_id: str, n: int) -> list[str]:
    ids: list[str] = []
    for i in range(n):
        created = await post_ticket(
            client,
            f"chat {i}",
            f"c{i % 20}@example.com",
            channel="chat",
            department_id=department_id,
        )
        ids.append(created["id"])
    return ids


async def test_tickets_are_assigned_by_the_router_and_a_killed_worker_loses_none(suite, api_port):
    serve, work = suite.router, suite.router_worker
    async with behind_ticket_api(suite, api_port, serve, work) as (worker, tickets, router):
        support = (await tickets.post("/v1/departments", json={"name": "Support"})).json()
        agents = []
        for i in range(3):
            response = await tickets.post(
                "/v1/agents",
                json={
                    "name": f"Agent {i}",
                    "email": f"agent{i}@example.com",
                    "department_ids": [support["id"]],
                    "availability": {"chat": "online"},
                },
            )
            agents.append(response.json()["id"])
            profile = await router.put(
                f"/v1/agents/{agents[-1]}/profile/chat", json={"priority": 1, "max_load": 40}
            )
            assert profile.status_code == 200, profile.text

        async def router_knows_the_agents():
            # "next" answers 422 for an agent the router has not heard of yet, 204 after.
            for agent_id in agents:
                if (await router.post(f"/v1/agents/{agent_id}/next")).status_code != 204:
                    return False
            return True

        await wait_until(router_knows_the_agents)
        [first] = await create_chats(tickets, support["id"], 1)

        async def assigned(ids):
            for ticket_id in ids:
                if (await tickets.get(f"/v1/tickets/{ticket_id}")).json()["agent_id"] is None:
                    return False
            return True

        await wait_until(lambda: assigned([first]))
        history = (await tickets.get(f"/v1/tickets/{first}/history")).json()["items"]
        [assignment] = [h for h in history if h["field"] == "agent_id"]
        assert assignment["actor"] == {
            "kind": "router",
            "id": "router",
            "name": "router (average_utilization)",
        }
        explained = (await router.get(f"/v1/tickets/{first}/routing")).json()["items"]
        assert explained[-1]["outcome"] == "assigned"

        # Kill the worker while it works through a burst, then start another.
        burst = await create_chats(tickets, support["id"], 90)

        async def some_assigned():
            listed = (await tickets.get("/v1/tickets", params={"limit": 200})).json()["items"]
            return sum(1 for t in listed if t["agent_id"]) > 10

        await wait_until(some_assigned)
        worker.kill()
        suite.router_worker(api_port, name="router-worker-2").start()
        await wait_until(lambda: assigned(burst), timeout=120)

        holders: Counter[str] = Counter()
        for ticket_id in [first, *burst]:
            history = (await tickets.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
            by_router = [h for h in history if h["field"] == "agent_id"]
            assert len(by_router) == 1, (ticket_id, history)
            holders[by_router[0]["after"]] += 1
        assert sum(holders.values()) == 91
        # Least loaded across three agents: the spread stays within one.
        assert max(holders.values()) - min(holders.values()) <= 1, holders
