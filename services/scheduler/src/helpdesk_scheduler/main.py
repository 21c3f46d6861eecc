"""The scheduler's admin API: ``create_app()`` builds it with the service kit; the ticks
run in ``cli ticker`` (and on demand through ``POST /v1/ticks``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from helpdesk_events import Clock, Topics
from helpdesk_rule_actions.references import SlaLevels
from helpdesk_service.app import create_service_app, open_database_and_ticket_api, ticket_api_auth
from helpdesk_service.db import database_ready
from helpdesk_ticket_client import ticket_api_session

from .config import Settings
from .rules.router import router as rules_router
from .ticks.router import router as ticks_router
from .ticks.tick import Scheduler


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def resources(app: FastAPI) -> AsyncIterator[None]:
        async with open_database_and_ticket_api(app, settings, "scheduler"):
            sla_tracker = ticket_api_session(settings.sla_tracker_url, connections=4)
            app.state.sla_levels = SlaLevels(sla_tracker, settings.service_key or "")
            app.state.scheduler = Scheduler(
                app.state.engine,
                app.state.sessions,
                app.state.ticket_api,
                Topics(settings.topic_prefix),
                page_size=settings.page_size,
                write_backs_in_flight=settings.write_backs_in_flight,
            )
            try:
                yield
            finally:
                await sla_tracker.close()

    return create_service_app(
        settings,
        title="helpdesk scheduler",
        description=(
            "Time rules: checked every minute against ticket-api's search (\"48 hours "
            'without a reply"), each fired once per episode of the ticket, with a preview '
            "of what a rule would act on at any instant."
        ),
        routers=[rules_router, ticks_router],
        resources=resources,
        auth=ticket_api_auth(settings),
        readiness={"database": database_ready},
        clock=clock,
    )
