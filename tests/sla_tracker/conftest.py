"""Fixtures for sla-tracker tests: ticket-api in process, served over loopback HTTP as the
tracker reaches it in production, and the tracker's admin API on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock
from helpdesk_sla_tracker.config import Settings as SlaSettings
from helpdesk_sla_tracker.main import create_app as create_sla_tracker

from tests.conftest import ADMIN_KEY, SERVICE_KEY
from tests.rule_engine.conftest import ticket_api_url

__all__ = ["ticket_api_url"]


@pytest.fixture
async def sla_app(ticket_api_url: str, database_url: str, clock: ManualClock) -> AsyncIterator[Any]:
    application = create_sla_tracker(
        SlaSettings(
            database_url=database_url,
            admin_key=ADMIN_KEY,
            service_key=SERVICE_KEY,
            ticket_api_url=ticket_api_url,
            db_pool_size=3,
            db_max_overflow=3,
        ),
        clock=clock,
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def sla(sla_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The sla-tracker admin API, with the admin key."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sla_app),
        base_url="http://sla-tracker",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client


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
