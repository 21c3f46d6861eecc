"""Fixtures for rule-engine tests: ticket-api and rule-engine in process on one database,
ticket-api served over loopback HTTP as the rule engine reaches it in production, and a
pump that delivers ticket events to the real handler without Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock, Topics
from helpdesk_rule_engine.config import Settings as RuleEngineSettings
from helpdesk_rule_engine.handlers.tickets import RuleEngine
from helpdesk_rule_engine.main import create_app as create_rule_engine
from helpdesk_rule_engine.models import CONSUMER
from helpdesk_rule_engine.rules.service import RuleCache
from helpdesk_service.db import make_engine
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text

from tests.conftest import SERVICE_KEY, InProcess, admin_api
from tests.conftest import ticket_api_url as ticket_api_url  # others import it from here
from tests.rule_engine.pump import Pump, pumping


@pytest.fixture
def topics() -> Topics:
    # Events are pumped from the outbox table, not through the broker.
    return Topics(prefix=f"re-{uuid.uuid4().hex[:6]}.")


@pytest.fixture
async def rule_app(in_process: InProcess, sla_tracker_url: str) -> AsyncIterator[Any]:
    async with in_process(
        create_rule_engine, RuleEngineSettings, sla_tracker_url=sla_tracker_url
    ) as application:
        yield application


rules = admin_api(rule_app, "rule-engine")


class Engine:
    """The handler wired to the in-process ticket-api, plus the pump that feeds it."""

    def __init__(self, pump: Pump, handler: RuleEngine, db: Any) -> None:
        self.pump = pump
        self.handler = handler
        self._db = db

    async def drain(self) -> list[Any]:
        return await self.pump.drain_and_check("rules")

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
    async with pumping(
        db,
        clock,
        name="rule-engine",
        topic=topics.tickets,
        handlers=handler.handlers(),
        tables=CONSUMER,
        dedupe="handler",
    ) as pump:
        yield Engine(pump, handler, db)
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
