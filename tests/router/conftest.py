"""Fixtures for router tests: ticket-api in process, served over loopback HTTP as the
router reaches it in production, and the router's admin API on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock
from helpdesk_router.config import Settings as RouterSettings
from helpdesk_router.main import create_app as create_router

from tests.conftest import ADMIN_KEY, SERVICE_KEY
from tests.rule_engine.conftest import ticket_api_url

__all__ = ["ticket_api_url"]


@pytest.fixture
async def router_app(
    ticket_api_url: str, database_url: str, clock: ManualClock
) -> AsyncIterator[Any]:
    application = create_router(
        RouterSettings(
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
async def router(router_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The router's admin API, with the admin key."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(router_app),
        base_url="http://router",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client
