"""The sla-tracker admin API: ``create_app()`` builds it with the service kit."""

from __future__ import annotations

from fastapi import FastAPI
from helpdesk_events import Clock
from helpdesk_service.app import create_database_service_app

from .breaches.router import router as breaches_router
from .calendars.router import router as calendars_router
from .clocks.router import router as clocks_router
from .config import Settings
from .levels.router import router as levels_router
from .reports.router import router as reports_router


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    return create_database_service_app(
        settings or Settings(),
        name="sla-tracker",
        description=(
            "SLA levels, business-hours calendars with holidays, and the default level per "
            "department. Due dates are counted in business time."
        ),
        routers=[calendars_router, levels_router, clocks_router, breaches_router, reports_router],
        clock=clock,
    )
