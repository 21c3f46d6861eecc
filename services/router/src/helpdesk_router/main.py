"""The router's admin API: ``create_app()`` builds it with the service kit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from helpdesk_events import Clock, Topics
from helpdesk_service.app import create_service_app, open_database_and_ticket_api, ticket_api_auth
from helpdesk_service.db import database_ready

from .config import Settings
from .routing.offers import expire_offers
from .routing.router import router as routing_router

log = logging.getLogger(__name__)


async def expire_offers_every(app: FastAPI, seconds: float) -> None:
    """Expire ring-all offers whose time is up, for as long as the app runs. Every API
    process runs this; ``SKIP LOCKED`` gives each offer to one of them."""
    while True:
        await asyncio.sleep(seconds)
        try:
            async with app.state.sessions() as session:
                await expire_offers(session, app.state.topics, app.state.clock.now())
        except Exception:
            # The next round tries again; an unreachable database must not end the loop.
            log.exception("expiring offers failed")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def resources(app: FastAPI) -> AsyncIterator[None]:
        async with open_database_and_ticket_api(app, settings, "router"):
            app.state.topics = Topics(settings.topic_prefix)
            expiry = (
                asyncio.create_task(expire_offers_every(app, settings.offer_check_seconds))
                if settings.offer_check_seconds > 0
                else None
            )
            try:
                yield
            finally:
                if expiry is not None:
                    expiry.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await expiry

    return create_service_app(
        settings,
        title="helpdesk router",
        description=(
            "Automatic distribution: routing policies per department and channel, agent "
            "routing profiles, and decisions that explain themselves."
        ),
        routers=[routing_router],
        resources=resources,
        auth=ticket_api_auth(settings),
        readiness={"database": database_ready},
        clock=clock,
    )
