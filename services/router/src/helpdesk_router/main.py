"""The router's admin API: ``create_app()`` builds it with the service kit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from helpdesk_events import Clock, Topics
from helpdesk_service.app import background_task, create_database_service_app

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
    async def topics_and_offer_expiry(app: FastAPI) -> AsyncIterator[None]:
        app.state.topics = Topics(settings.topic_prefix)
        if settings.offer_check_seconds > 0:
            async with background_task(expire_offers_every(app, settings.offer_check_seconds)):
                yield
        else:
            yield

    return create_database_service_app(
        settings,
        name="router",
        description=(
            "Automatic distribution: routing policies per department and channel, agent "
            "routing profiles, and decisions that explain themselves."
        ),
        routers=[routing_router],
        resources=topics_and_offer_expiry,
        clock=clock,
    )
