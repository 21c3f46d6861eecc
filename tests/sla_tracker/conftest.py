"""Fixtures for sla-tracker tests: ticket-api in process, served over loopback HTTP as the
tracker reaches it in production, and the tracker's admin API on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from helpdesk_events import ManualClock, Topics
from helpdesk_service.db import make_engine
from helpdesk_sla_tracker.handlers.tickets import handlers
from helpdesk_sla_tracker.models import CONSUMER
from sqlalchemy import text

from tests.conftest import Api
from tests.rule_engine.conftest import engine, full_traces, max_depth, rule_app, rules
from tests.rule_engine.pump import Pump, pumping

# The rule engine beside the tracker, for escalations on sla.breached.
__all__ = ["engine", "full_traces", "max_depth", "rule_app", "rules"]


BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_16 = datetime(2026, 12, 4, 16, tzinfo=BERLIN)

OFFICE_HOURS = {
    day: [{"start": "09:00", "end": "17:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def calendar_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Berlin office",
        "time_zone": "Europe/Berlin",
        "hours": OFFICE_HOURS,
        **overrides,
    }


class Tracker:
    """The clock handlers behind the real ConsumerRunner path, fed ticket-api's events in
    order from its outbox (as the relay would), plus reading the clocks back."""

    def __init__(self, pump: Pump, db: Any, sla: httpx.AsyncClient) -> None:
        self.pump = pump
        self._db = db
        self._sla = sla

    async def drain(self) -> None:
        await self.pump.drain_and_check("sla")

    async def outbox(self) -> list[dict[str, Any]]:
        """What the tracker queued for helpdesk.sla, oldest first."""
        async with self._db.connect() as conn:
            rows = (await conn.execute(text("SELECT payload FROM sla.outbox ORDER BY id"))).all()
        return [orjson.loads(row.payload) for row in rows]

    async def clocks(self, ticket_id: str) -> list[dict[str, Any]]:
        await self.drain()
        response = await self._sla.get(f"/v1/tickets/{ticket_id}/clocks")
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]


@pytest.fixture
async def tracker(
    database_url: str, clock: ManualClock, topics: Topics, sla: httpx.AsyncClient
) -> AsyncIterator[Tracker]:
    db = make_engine(database_url, application_name="sla-tracker-test", pool_size=3, max_overflow=3)
    async with pumping(
        db, clock, name="sla-tracker", topic=topics.tickets, handlers=handlers(), tables=CONSUMER
    ) as pump:
        yield Tracker(pump, db, sla)
    await db.dispose()


@pytest.fixture
async def pre_sales(
    sla: httpx.AsyncClient, client: httpx.AsyncClient, clock: ManualClock
) -> dict[str, Any]:
    """The seed: a pre-sales department whose default level wants a first response within
    4 business hours of a 09:00-17:00 Berlin calendar."""
    clock.set(FRIDAY_16.astimezone(UTC))
    department = await Api(client).department("Pre-sales")
    calendar = (await sla.post("/v1/calendars", json=calendar_body())).json()
    level = {
        "first_response_minutes": 240,
        "next_response_minutes": 480,
        "chat_response_minutes": 5,
        "call_response_minutes": 2,
        "calendar_id": calendar["id"],
    }
    assert (await sla.put("/v1/levels/pre-sales", json=level)).status_code == 201
    path = f"/v1/departments/{department['id']}/level"
    assert (await sla.put(path, json={"level": "pre-sales"})).status_code == 200
    return {"department": department, "calendar": calendar, "level": level}


async def new_ticket(client: httpx.AsyncClient, pre_sales: dict[str, Any], **body: Any) -> str:
    ticket = await Api(client).ticket(department_id=pre_sales["department"]["id"], **body)
    return str(ticket["id"])


@dataclass
class Desk:
    """The pre-sales seed with what a clock test drives: ticket-api, the tracker's admin
    API, the tracker fed ticket-api's events, and the clock."""

    client: httpx.AsyncClient
    sla: httpx.AsyncClient
    tracker: Tracker
    clock: ManualClock
    pre_sales: dict[str, Any]

    async def ticket(self, **body: Any) -> str:
        """A new pre-sales ticket's id."""
        return await new_ticket(self.client, self.pre_sales, **body)


@pytest.fixture
def desk(
    client: httpx.AsyncClient,
    sla: httpx.AsyncClient,
    tracker: Tracker,
    clock: ManualClock,
    pre_sales: dict[str, Any],
) -> Desk:
    return Desk(client, sla, tracker, clock, pre_sales)
