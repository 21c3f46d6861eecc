"""Fixtures for rule-engine tests: ticket-api and rule-engine in process on one database,
ticket-api served over loopback HTTP as the rule engine reaches it in production, and a
pump that delivers ticket events to the real handler without Kafka."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from helpdesk_events import ConsumerRunner, ManualClock, Topics
from helpdesk_rule_engine.config import Settings as RuleEngineSettings
from helpdesk_rule_engine.handlers.tickets import RuleEngine
from helpdesk_rule_engine.main import create_app as create_rule_engine
from helpdesk_rule_engine.models import CONSUMER
from helpdesk_rule_engine.rules.service import RuleCache
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_sla_tracker.config import Settings as SlaSettings
from helpdesk_sla_tracker.main import create_app as create_sla_tracker
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text

from tests.conftest import ADMIN_KEY, SERVICE_KEY, admin_client
from tests.rule_engine.pump import Pump


@pytest.fixture
def topics() -> Topics:
    # Events are pumped from the outbox table, not through the broker.
    return Topics(prefix=f"re-{uuid.uuid4().hex[:6]}.")


@asynccontextmanager
async def served_on_loopback(app: Any) -> AsyncIterator[str]:
    """``app`` (its lifespan handled by the caller) served by uvicorn on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


@pytest.fixture
async def ticket_api_url(app: Any) -> AsyncIterator[str]:
    """The in-process ticket-api, served over loopback."""
    async with served_on_loopback(app) as url:
        yield url


@pytest.fixture
async def sla_app(
    ticket_api_url: str, database_url: str, clock: ManualClock, topics: Topics
) -> AsyncIterator[Any]:
    application = create_sla_tracker(
        SlaSettings(
            database_url=database_url,
            admin_key=ADMIN_KEY,
            service_key=SERVICE_KEY,
            ticket_api_url=ticket_api_url,
            topic_prefix=topics.prefix,
            db_pool_size=3,
            db_max_overflow=3,
        ),
        clock=clock,
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def sla_tracker_url(sla_app: Any) -> AsyncIterator[str]:
    """The in-process sla-tracker, served over loopback: rules naming SLA levels are checked
    against it when saved."""
    async with served_on_loopback(sla_app) as url:
        yield url


@pytest.fixture
async def sla(sla_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The sla-tracker admin API, with the admin key."""
    async with admin_client(sla_app, "sla-tracker") as client:
        yield client


@pytest.fixture
async def rule_app(
    ticket_api_url: str, sla_tracker_url: str, database_url: str, clock: ManualClock
) -> AsyncIterator[Any]:
    application = create_rule_engine(
        RuleEngineSettings(
            database_url=database_url,
            admin_key=ADMIN_KEY,
            service_key=SERVICE_KEY,
            ticket_api_url=ticket_api_url,
            sla_tracker_url=sla_tracker_url,
            db_pool_size=3,
            db_max_overflow=3,
        ),
        clock=clock,
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def rules(rule_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The rule-engine admin API, with the admin key."""
    async with admin_client(rule_app, "rule-engine") as client:
        yield client


class Engine:
    """The handler wired to the in-process ticket-api, plus the pump that feeds it."""

    def __init__(self, pump: Pump, handler: RuleEngine, db: Any) -> None:
        self.pump = pump
        self.handler = handler
        self._db = db

    async def drain(self) -> list[Any]:
        events = await self.pump.drain()
        async with self._db.connect() as conn:
            dead = (
                await conn.execute(text("SELECT event_type, error FROM rules.dead_event"))
            ).all()
        assert not dead, f"the handler failed: {dead}"
        return events

    async def notifications(self) -> list[dict[str, Any]]:
        """The notifier requests rules queued (rules.outbox), oldest first."""
        import orjson

        async with self._db.connect() as conn:
            rows = (await conn.execute(text("SELECT payload FROM rules.outbox ORDER BY id"))).all()
        return [orjson.loads(r.payload) for r in rows]


@pytest.fixture
def max_depth() -> int:
    return 10


@pytest.fixture
def full_traces() -> bool:
    return False


@pytest.fixture
async def engine(
    ticket_api_url: str,
    database_url: str,
    clock: ManualClock,
    topics: Topics,
    max_depth: int,
    full_traces: bool,
) -> AsyncIterator[Engine]:
    db = make_engine(database_url, application_name="rule-engine-test", pool_size=3, max_overflow=3)
    http = ticket_api_session(ticket_api_url)
    ticket_api = TicketApiClient(http, SERVICE_KEY)
    handler = RuleEngine(
        ticket_api=ticket_api,
        cache=RuleCache(ticket_api),
        topics=topics,
        max_depth=max_depth,
        full_traces=full_traces,
    )
    runner = ConsumerRunner(
        name="rule-engine",
        bootstrap_servers="127.0.0.1:1",
        topics=[topics.tickets],
        handlers=handler.handlers(),
        session_factory=make_session_factory(db),
        tables=CONSUMER,
        clock=clock,
        max_attempts=1,
        dedupe="handler",
    )
    yield Engine(Pump(db, runner), handler, db)
    await runner.release_connections()
    await http.close()
    await db.dispose()


def cond(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"field": field, "op": op, **extra}
    if value is not None:
        c["value"] = value
    return c


def any_of(*groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {"any": [{"all": g} for g in groups]}


async def make_rule(rules: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"rule {uuid.uuid4().hex[:6]}")
    body.setdefault("conditions", {"every_ticket": True})
    response = await rules.post("/v1/rules", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def make_sla_level(sla: httpx.AsyncClient, name: str) -> None:
    """An SLA level the sla-tracker knows, for rules that name it."""
    response = await sla.put(f"/v1/levels/{name}", json={"first_response_minutes": 60})
    assert response.status_code in (200, 201), response.text
