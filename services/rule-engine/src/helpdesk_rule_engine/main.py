"""The rule-engine admin API: ``create_app()`` builds it with the service kit; the consumer
runs in ``cli worker``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from helpdesk_events import Clock
from helpdesk_rule_actions.references import SlaLevels
from helpdesk_service.app import create_database_service_app
from helpdesk_ticket_client import ticket_api_session

from .config import Settings
from .postgres_text import json_dumps
from .rules.router import router as rules_router


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def sla_levels(app: FastAPI) -> AsyncIterator[None]:
        sla_tracker = ticket_api_session(settings.sla_tracker_url, connections=4)
        app.state.sla_levels = SlaLevels(sla_tracker, settings.service_key or "")
        try:
            yield
        finally:
            await sla_tracker.close()

    return create_database_service_app(
        settings,
        name="rule-engine",
        description=(
            "Action rules and SLA rules. Rules run on ticket events in order; every decision is "
            "recorded with the conditions' values, so 'why did (not) this rule fire?' is "
            "answered."
        ),
        routers=[rules_router],
        resources=sla_levels,
        clock=clock,
        json_serializer=json_dumps,
    )
