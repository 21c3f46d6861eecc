"""The notifier's admin API: ``create_app()`` builds it with the service kit; consuming
and delivering run in ``cli worker``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from helpdesk_events import Clock
from helpdesk_service.app import background_task, create_database_service_app

from .agents.router import router as agents_router
from .agents.stream import NotificationListener
from .config import Settings
from .deliveries.router import router as deliveries_router


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def delivery_and_stream(app: FastAPI) -> AsyncIterator[None]:
        app.state.allowed_networks = settings.allowed_networks
        app.state.stream_heartbeat_seconds = settings.stream_heartbeat_seconds
        listener = NotificationListener(settings.database_url)
        app.state.notification_listener = listener
        async with background_task(listener.run()):
            yield

    return create_database_service_app(
        settings,
        name="notifier",
        description=(
            "Delivers what rules send: e-mails and HTTP calls, each stored before it is "
            "attempted, signed (Standard Webhooks), retried with backoff for about three days, "
            "logged attempt by attempt, dead-lettered after the last attempt, and guarded "
            "against SSRF."
        ),
        routers=[deliveries_router, agents_router],
        resources=delivery_and_stream,
        clock=clock,
    )
