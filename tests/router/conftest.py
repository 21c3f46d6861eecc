"""Fixtures for router tests: ticket-api in process, served over loopback HTTP as the
router reaches it in production, the router's admin API on the same database, and its
worker's handlers fed by a pump from ticket-api's outbox (no broker in between)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from helpdesk_events import EventBase, ManualClock, Topics, decode_event, encode_event
from helpdesk_router.cli import WORKER
from helpdesk_router.config import Settings as RouterSettings
from helpdesk_router.handlers.table import handler_table
from helpdesk_router.main import create_app as create_router
from helpdesk_router.models import CONSUMER
from helpdesk_router.routing.distribution import Distributor
from helpdesk_service.db import make_engine
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SERVICE_KEY, Api, InProcess, admin_api
from tests.rule_engine.pump import Pump, pumping


@pytest.fixture
async def router_app(in_process: InProcess, topics: Topics) -> AsyncIterator[Any]:
    async with in_process(
        create_router,
        RouterSettings,
        topic_prefix=topics.prefix,
        # Offers expire when a test says so (POST /v1/offers/expire), by the clock.
        offer_check_seconds=0,
    ) as application:
        yield application


router = admin_api(router_app, "router")


async def online_chat_agents(
    api: Api, department: dict[str, Any], count: int
) -> list[dict[str, Any]]:
    """``count`` new agents of ``department``, online on chat."""
    return [
        await api.agent([department["id"]], availability={"chat": "online"}) for _ in range(count)
    ]


class RouterPump(Pump):
    """Delivers ticket-api's ticket and agent events (and the events the router's own
    write-backs cause) to the router's real consumer path until quiet."""

    topics = ("helpdesk.tickets", "helpdesk.agents")


@dataclass
class Worker:
    """The router's handlers wired to the in-process ticket-api, fed by a pump, on the test
    database and clock; other routers it starts share them."""

    pump: Pump
    db: AsyncEngine
    database_url: str
    ticket_api_url: str
    clock: ManualClock

    async def drain(self) -> list[EventBase]:
        return await self.pump.drain_and_check("routing")

    def another_router(self) -> AbstractAsyncContextManager[Pump]:
        """A second, independent router beside this one."""
        return another_router(self.database_url, self.ticket_api_url, self.clock)

    def unanswered_router(self) -> AbstractAsyncContextManager[Pump]:
        """A router whose calls to ticket-api get no answer (nothing listens there): its
        decisions commit their reservations and the write-backs after them fail, as if it
        were killed between the two."""
        return another_router(self.database_url, "http://127.0.0.1:9", self.clock)

    async def loads(self) -> dict[str, int]:
        """Tickets each agent holds, from the router's own rows; the loads and last
        assignments the router stores are checked against those rows on the way."""
        await self.assert_stored_loads_are_counted()
        rows = await self._rows(
            "SELECT agent_id, count(*) FROM routing.ticket WHERE state = 'assigned' "
            "GROUP BY agent_id"
        )
        return {str(agent): count for agent, count in rows}

    async def assert_stored_loads_are_counted(self) -> None:
        """routing.agent_load holds, for every agent and channel, exactly what counting
        routing.ticket gives: the reserved and assigned tickets, and the latest
        assignment among the tickets they hold (a row of zero and none is no row)."""
        stored = await self._rows(
            "SELECT agent_id, channel, load, last_assigned_at FROM routing.agent_load "
            "WHERE load <> 0 OR last_assigned_at IS NOT NULL"
        )
        counted = await self._rows(
            "SELECT agent_id, channel, count(*) FILTER (WHERE state IN ('reserved', 'assigned')), "
            "max(assigned_at) FROM routing.ticket WHERE agent_id IS NOT NULL "
            "GROUP BY agent_id, channel"
        )
        assert sorted(stored) == sorted(counted)

    async def _rows(self, query: str) -> list[tuple[Any, ...]]:
        async with self.db.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(query))).all()]


async def chat_agents_with_room_for(
    api: Api, router: httpx.AsyncClient, department: dict[str, Any], count: int, chats: int
) -> list[dict[str, Any]]:
    """``count`` new agents of ``department``, online on chat, with room for ``chats``
    chats each."""
    agents = await online_chat_agents(api, department, count)
    for agent in agents:
        response = await router.put(
            f"/v1/agents/{agent['id']}/profile/chat", json={"priority": 1, "max_load": chats}
        )
        assert response.status_code == 200
    return agents


async def routed_by_two_routers(worker: Worker, events: list[tuple[str, bytes, bytes]]) -> None:
    """``events`` delivered at once to this worker (every other one) and to a second,
    independent router (the rest), then everything they cause."""
    async with worker.another_router() as second:
        await asyncio.gather(feed(worker.pump, events[0::2]), feed(second, events[1::2]))
    await worker.drain()


async def routed_in_turn(
    api: Api, worker: Worker, department: dict[str, Any], count: int, channel: str = "chat"
) -> list[dict[str, Any]]:
    """``count`` new tickets of ``department`` on ``channel``, a second apart, each delivered
    to the worker before the next is created: "oldest first" has one answer among them."""
    tickets = []
    for _ in range(count):
        tickets.append(await api.ticket(department_id=department["id"], channel=channel))
        await worker.drain()
        worker.clock.advance(seconds=1)
    return tickets


async def undelivered_chats(
    api: Api, worker: Worker, department: dict[str, Any], count: int
) -> tuple[list[dict[str, Any]], list[tuple[str, bytes, bytes]]]:
    """``count`` new chats of ``department`` and their ``ticket.created`` events, taken from
    ticket-api's outbox before any router sees them: the test delivers them as it means to."""
    chats = [await api.ticket(department_id=department["id"], channel="chat") for _ in range(count)]
    created = await worker.pump.take_outbox()
    assert len(created) == count
    return chats, created


async def undelivered_chats_of_online_agents(
    api: Api, worker: Worker, *, agents: int, chats: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, bytes, bytes]]]:
    """A new department of ``agents`` agents online on chat, whom the router knows, and
    ``chats`` new chats of it with their undelivered ``ticket.created`` events: the agents,
    the chats and the events."""
    department = await api.department()
    online = await online_chat_agents(api, department, agents)
    await worker.drain()
    return online, *await undelivered_chats(api, worker, department, chats)


async def redeliver_as_new(worker: Worker, raw: tuple[str, bytes, bytes]) -> None:
    """The same change again under a fresh event id, so dedupe cannot catch it: only the
    ticket's version can."""
    topic, key, value = raw
    event = decode_event(value).model_copy(update={"id": uuid.uuid4()})
    await worker.pump.deliver(topic, key, encode_event(event))


@asynccontextmanager
async def router_pump(
    db: AsyncEngine, ticket_api_url: str, clock: ManualClock, *, seed: int
) -> AsyncIterator[Pump]:
    """A router's handlers, as its worker runs them, on ``db`` with their own ticket-api
    session; ``seed`` makes its random choices repeatable."""
    http = ticket_api_session(ticket_api_url)
    distributor = Distributor(TicketApiClient(http, SERVICE_KEY), random.Random(seed))
    try:
        async with pumping(
            db,
            clock,
            name="router",
            topic="helpdesk.tickets",
            handlers=handler_table(distributor),
            tables=CONSUMER,
            dedupe=WORKER.dedupe,
            pump_class=RouterPump,
        ) as pump:
            yield pump
    finally:
        await http.close()


@asynccontextmanager
async def another_router(
    database_url: str, ticket_api_url: str, clock: ManualClock, *, seed: int = 5
) -> AsyncIterator[Pump]:
    """A second, independent router: its own engine, ticket-api session and handlers."""
    db = make_engine(database_url, application_name="router-test-2", pool_size=3, max_overflow=3)
    try:
        async with router_pump(db, ticket_api_url, clock, seed=seed) as pump:
            yield pump
    finally:
        await db.dispose()


async def feed(pump: Pump, events: list[tuple[str, bytes, bytes]]) -> None:
    """Deliver ``events`` to one router, one after the other."""
    for raw in events:
        await pump.deliver(*raw)


@pytest.fixture
async def worker(
    ticket_api_url: str, database_url: str, clock: ManualClock
) -> AsyncIterator[Worker]:
    db = make_engine(database_url, application_name="router-test", pool_size=3, max_overflow=3)
    async with router_pump(db, ticket_api_url, clock, seed=11) as pump:
        yield Worker(pump, db, database_url, ticket_api_url, clock)
    await db.dispose()
