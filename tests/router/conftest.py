"""Fixtures for router tests: ticket-api in process, served over loopback HTTP as the
router reaches it in production, the router's admin API on the same database, and its
worker's handlers fed by a pump from ticket-api's outbox (no broker in between)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from helpdesk_events import ConsumerRunner, EventBase, ManualClock, Topics
from helpdesk_router.config import Settings as RouterSettings
from helpdesk_router.handlers.table import handler_table
from helpdesk_router.main import create_app as create_router
from helpdesk_router.models import CONSUMER
from helpdesk_router.routing.distribution import Distributor
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SERVICE_KEY, admin_client, running, service_settings
from tests.rule_engine.pump import Pump


@pytest.fixture
async def router_app(
    ticket_api_url: str, database_url: str, clock: ManualClock, topics: Topics
) -> AsyncIterator[Any]:
    settings = service_settings(
        RouterSettings,
        database_url,
        ticket_api_url=ticket_api_url,
        topic_prefix=topics.prefix,
        # Offers expire when a test says so (POST /v1/offers/expire), by the clock.
        offer_check_seconds=0,
    )
    async with running(create_router(settings, clock=clock)) as application:
        yield application


@pytest.fixture
async def router(router_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The router's admin API, with the admin key."""
    async with admin_client(router_app, "router") as client:
        yield client


class RouterPump(Pump):
    """Delivers ticket-api's ticket and agent events (and the events the router's own
    write-backs cause) to the router's real consumer path until quiet."""

    topics = ("helpdesk.tickets", "helpdesk.agents")


class Worker:
    """The router's handlers wired to the in-process ticket-api, fed by a pump."""

    def __init__(self, pump: RouterPump, db: AsyncEngine) -> None:
        self.pump = pump
        self.db = db

    async def drain(self) -> list[EventBase]:
        events = await self.pump.drain()
        async with self.db.connect() as conn:
            dead = (
                await conn.execute(text("SELECT event_type, error FROM routing.dead_event"))
            ).all()
        assert not dead, f"the handler failed: {dead}"
        return events

    async def loads(self) -> dict[str, int]:
        """Tickets each agent holds, from the router's own rows."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT agent_id, count(*) FROM routing.ticket WHERE state = 'assigned' "
                        "GROUP BY agent_id"
                    )
                )
            ).all()
        return {str(agent): count for agent, count in rows}


def build_worker_runner(
    db: AsyncEngine, ticket_api: TicketApiClient, clock: ManualClock, seed: int = 11
) -> ConsumerRunner:
    return ConsumerRunner(
        name="router",
        bootstrap_servers="127.0.0.1:1",
        topics=[],
        handlers=handler_table(Distributor(ticket_api, random.Random(seed))),
        session_factory=make_session_factory(db),
        tables=CONSUMER,
        clock=clock,
        max_attempts=1,
    )


@pytest.fixture
async def worker(
    ticket_api_url: str, database_url: str, clock: ManualClock
) -> AsyncIterator[Worker]:
    db = make_engine(database_url, application_name="router-test", pool_size=3, max_overflow=3)
    http = ticket_api_session(ticket_api_url)
    runner = build_worker_runner(db, TicketApiClient(http, SERVICE_KEY), clock)
    yield Worker(RouterPump(db, runner), db)
    await runner.release_connections()
    await http.close()
    await db.dispose()
