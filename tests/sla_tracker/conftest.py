"""Fixtures for sla-tracker tests: ticket-api in process, served over loopback HTTP as the
tracker reaches it in production, and the tracker's admin API on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from helpdesk_events import ManualClock, Topics
from helpdesk_service.db import make_engine
from helpdesk_sla_tracker.handlers.tickets import handlers
from helpdesk_sla_tracker.models import CONSUMER
from sqlalchemy import text

from tests.rule_engine.conftest import engine, full_traces, max_depth, rule_app, rules
from tests.rule_engine.pump import Pump, pumping

# The rule engine beside the tracker, for escalations on sla.breached.
__all__ = ["engine", "full_traces", "max_depth", "rule_app", "rules"]


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
