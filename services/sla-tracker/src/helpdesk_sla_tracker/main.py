"""The sla-tracker admin API: ``create_app()`` builds it with the service kit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from helpdesk_events import Clock
from helpdesk_service.app import create_service_app
from helpdesk_service.auth import RemoteKeyAuth
from helpdesk_service.db import database_ready, make_engine, make_session_factory
from helpdesk_ticket_client import TicketApiClient, ticket_api_session

from .breaches.router import router as breaches_router
from .calendars.router import router as calendars_router
from .clocks.router import router as clocks_router
from .config import Settings
from .levels.router import router as levels_router
from .reports.router import router as reports_router


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def resources(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            application_name="sla-tracker",
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        # One session to ticket-api: callers' keys and departments.
        session = ticket_api_session(settings.ticket_api_url)
        app.state.engine = engine
        app.state.sessions = make_session_factory(engine)
        app.state.ticket_api = TicketApiClient(session, settings.service_key or "")
        try:
            yield
        finally:
            await session.close()
            await engine.dispose()

    return create_service_app(
        settings,
        title="helpdesk sla-tracker",
        description=(
            "SLA levels, business-hours calendars with holidays, and the default level per "
            "department. Due dates are counted in business time."
        ),
        routers=[calendars_router, levels_router, clocks_router, breaches_router, reports_router],
        resources=resources,
        auth=lambda app: RemoteKeyAuth(
            app.state.ticket_api, bootstrap_keys={settings.admin_key or "": "admin"}
        ),
        readiness={"database": database_ready},
        clock=clock,
    )
