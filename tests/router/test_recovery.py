"""What the worker does before it consumes: a reservation committed by a process that died
before its write-back is written back (once), and the agents are read from ticket-api so a
router that has heard of one agent does not take the account for a one-agent account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock
from helpdesk_router.recovery import Recovery
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SERVICE_KEY, Api
from tests.router.conftest import Worker, undelivered_chats_of_online_agents


@pytest.fixture
async def recovery(
    ticket_api_url: str, worker: Worker, clock: ManualClock
) -> AsyncIterator[Recovery]:
    http = ticket_api_session(ticket_api_url)
    yield Recovery(worker.db, TicketApiClient(http, SERVICE_KEY), clock, every=30)
    await http.close()


async def rows(db: AsyncEngine, query: str) -> list[Any]:
    async with db.connect() as conn:
        return list((await conn.execute(text(query))).all())


async def test_a_reservation_left_by_a_killed_router_is_written_back_once_at_start(
    api: Api, client: httpx.AsyncClient, worker: Worker, recovery: Recovery
) -> None:
    agents, [chat], [created] = await undelivered_chats_of_online_agents(
        api, worker, agents=2, chats=1
    )

    # A router whose ticket-api is gone: the decision commits its reservation, and the
    # write-back after it fails, as if the process had been killed between the two.
    async with worker.unanswered_router() as killed:
        await killed.deliver(*created)
    [(reserved_for, state)] = await rows(
        worker.db, "SELECT agent_id, state FROM routing.ticket WHERE id = '" + chat["id"] + "'"
    )
    assert state == "reserved"
    assert len(await rows(worker.db, "SELECT * FROM routing.pending_assignment")) == 1
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"] is None
    # The reservation counts in the agent's load meanwhile.
    assert str(reserved_for) in {a["id"] for a in agents}
    async with worker.db.begin() as conn:
        await conn.execute(text("DELETE FROM routing.dead_event"))

    await recovery.prepare_once()
    await recovery.prepare_once()
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"] == str(reserved_for)
    assert await rows(worker.db, "SELECT * FROM routing.pending_assignment") == []
    # The event again (redelivered after the restart) and the assignment's own event.
    await worker.pump.deliver(*created)
    await worker.drain()
    history = (await client.get(f"/v1/tickets/{chat['id']}/history")).json()["items"]
    assert [h["after"] for h in history if h["field"] == "agent_id"] == [str(reserved_for)]
    assert await worker.loads() == {str(reserved_for): 1}


async def test_a_router_that_heard_of_one_agent_learns_the_others_from_ticket_api(
    api: Api,
    client: httpx.AsyncClient,
    worker: Worker,
    recovery: Recovery,
) -> None:
    department = await api.department()
    heard_of = await api.agent([department["id"]], availability={"chat": "offline"})
    # Only the first agent's event reaches the router; the second's is lost to it.
    [first_event] = await worker.pump.take_outbox()
    await worker.pump.deliver(*first_event)
    online = await api.agent([department["id"]], availability={"chat": "online"})
    await worker.pump.take_outbox()

    await recovery.prepare_once()
    chat = await api.ticket(department_id=department["id"], channel="chat")
    await worker.drain()
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_id"] == online["id"]
    known = {str(r[0]) for r in await rows(worker.db, "SELECT id FROM routing.agent")}
    assert known == {heard_of["id"], online["id"]}
