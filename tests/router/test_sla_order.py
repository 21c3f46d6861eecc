"""Waiting work is handed out nearest SLA due date first, tickets without one after them,
then oldest first — by "next" and by the work that flows to an agent alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock

from tests.conftest import SERVICE_KEY, Api
from tests.router.conftest import Worker
from tests.router.test_distribution import assignee, colleague_elsewhere, set_availability


class Queue:
    """Tickets of one department, created a second apart, whose SLA due dates the
    sla-tracker's write-back sets (ticket-api's ``set_sla_state`` action)."""

    def __init__(
        self,
        api: Api,
        service: httpx.AsyncClient,
        worker: Worker,
        clock: ManualClock,
        department: dict[str, Any],
        channel: str,
    ) -> None:
        self.api, self.service, self.worker, self.clock = api, service, worker, clock
        self.department, self.channel = department, channel
        self.stamps: dict[str, int] = {}

    async def ticket(self) -> dict[str, Any]:
        created = await self.api.ticket(department_id=self.department["id"], channel=self.channel)
        self.clock.advance(seconds=1)
        await self.worker.drain()
        return created

    async def due_in(self, ticket: dict[str, Any], hours: float | None) -> None:
        """Set (None: clear) the ticket's due date, ``hours`` from now."""
        due = None if hours is None else (self.clock.now() + timedelta(hours=hours)).isoformat()
        stamp = self.stamps[ticket["id"]] = self.stamps.get(ticket["id"], 0) + 1
        response = await self.service.post(
            f"/v1/tickets/{ticket['id']}/actions",
            json={
                "actor": {"kind": "sla_tracker"},
                "actions": [
                    {"type": "set_sla_state", "due_at": due, "late": False, "stamp": stamp}
                ],
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 200, response.text
        await self.worker.drain()


@pytest.fixture
async def service(client_for: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(SERVICE_KEY) as client:
        yield client


@pytest.fixture
def queue_of(api: Api, service: httpx.AsyncClient, worker: Worker, clock: ManualClock) -> Any:
    async def build(channel: str) -> Queue:
        return Queue(api, service, worker, clock, await api.department(), channel)

    return build


@pytest.fixture
async def email_queue(api: Api, queue_of: Any) -> tuple[Queue, dict[str, Any]]:
    """An e-mail queue (pulled by default) and an agent of its department, with a colleague
    elsewhere (the account is not a one-agent account)."""
    queue = await queue_of("email")
    agent = await api.agent([queue.department["id"]])
    await colleague_elsewhere(api)
    return queue, agent


async def pulled(router: httpx.AsyncClient, agent: dict[str, Any], count: int) -> list[str]:
    """The tickets "next" hands the agent, one after the other."""
    taken = []
    for _ in range(count):
        response = await router.post(f"/v1/agents/{agent['id']}/next")
        assert response.status_code == 200, response.text
        taken.append(response.json()["ticket_id"])
    return taken


def ids(tickets: list[dict[str, Any]]) -> list[str]:
    return [t["id"] for t in tickets]


async def test_a_later_ticket_with_a_nearer_due_date_is_served_first(
    router: httpx.AsyncClient, email_queue: tuple[Queue, dict[str, Any]]
) -> None:
    queue, agent = email_queue
    older, later = await queue.ticket(), await queue.ticket()
    await queue.due_in(older, hours=2)
    await queue.due_in(later, hours=1)
    assert await pulled(router, agent, 2) == ids([later, older])


async def test_tickets_without_a_due_date_come_after_the_dated_ones_oldest_first(
    router: httpx.AsyncClient, email_queue: tuple[Queue, dict[str, Any]]
) -> None:
    queue, agent = email_queue
    oldest, older, dated = [await queue.ticket() for _ in range(3)]
    await queue.due_in(dated, hours=48)
    assert await pulled(router, agent, 3) == ids([dated, oldest, older])


async def test_a_due_date_set_or_moved_by_a_later_event_reorders_the_queue(
    router: httpx.AsyncClient, email_queue: tuple[Queue, dict[str, Any]]
) -> None:
    queue, agent = email_queue
    first, second, undated, cleared = [await queue.ticket() for _ in range(4)]
    await queue.due_in(first, hours=1)
    await queue.due_in(second, hours=2)
    await queue.due_in(cleared, hours=3)
    # Later events: the second's clock is due sooner, the undated ticket's clock starts,
    # the last one's clock stops.
    await queue.due_in(second, hours=0.5)
    await queue.due_in(undated, hours=0.25)
    await queue.due_in(cleared, hours=None)
    assert await pulled(router, agent, 4) == ids([undated, second, first, cleared])


async def test_work_flowing_to_an_agent_and_next_hand_out_the_same_order(
    api: Api,
    client: httpx.AsyncClient,
    router: httpx.AsyncClient,
    worker: Worker,
    queue_of: Any,
) -> None:
    await colleague_elsewhere(api)
    for channel in ("chat", "email"):
        queue = await queue_of(channel)
        agent = await api.agent([queue.department["id"]], availability={channel: "offline"})
        response = await router.put(
            f"/v1/agents/{agent['id']}/profile/{channel}", json={"priority": 1, "max_load": 1}
        )
        assert response.status_code == 200, response.text
        undated, far, near = [await queue.ticket() for _ in range(3)]
        await queue.due_in(far, hours=2)
        await queue.due_in(near, hours=1)
        assert [await assignee(client, t) for t in (undated, far, near)] == [None] * 3
        served: list[str] = []
        if channel == "chat":
            # Flow: the agent comes online, then each resolved chat frees the one slot.
            await set_availability(client, agent, chat="online")
        for _ in range(3):
            await worker.drain()
            if channel == "chat":
                held = [
                    t["id"]
                    for t in (undated, far, near)
                    if t["id"] not in served and await assignee(client, t)
                ]
                assert len(held) == 1
                served += held
            else:
                # Pull: the agent, offline (nothing flows to them), asks for the next one.
                served += await pulled(router, agent, 1)
            resolved = await client.patch(f"/v1/tickets/{served[-1]}", json={"status": "resolved"})
            assert resolved.status_code == 200, resolved.text
        assert served == ids([near, far, undated]), channel
