"""The ticket-api application: ``create_app()`` builds it with the service kit; its
resources are the SQLAlchemy engine and a plain asyncpg pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from helpdesk_events import Clock, Topics
from helpdesk_service.app import create_service_app
from helpdesk_service.db import database_ready
from sqlalchemy.engine import make_url

from .auth import DatabaseKeyAuth, KeyCache, ensure_bootstrap_key
from .config import Settings
from .db import make_engine, make_session_factory
from .directory.router import router as directory_router
from .tickets.router import router as tickets_router
from .tickets.search import router as search_router
from .whoami import router as whoami_router


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def resources(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        app.state.engine = engine
        app.state.sessions = make_session_factory(engine)
        # Plain asyncpg connections for ticket creation and write-backs (the hottest writes).
        app.state.pg = await asyncpg.create_pool(
            make_url(settings.database_url).set(drivername="postgresql").render_as_string(False),
            min_size=0,
            max_size=settings.db_pool_size,
            # Every statement here reads or writes rows by key: the plan is the same whatever
            # the parameters, so planning it anew (what PostgreSQL does for statements taking
            # arrays, a round of write-backs' claim among them) only costs CPU.
            server_settings={
                "application_name": "ticket-api",
                "plan_cache_mode": "force_generic_plan",
            },
            reset=_no_reset,
        )
        now = app.state.clock.now()
        if settings.admin_key:
            await ensure_bootstrap_key(
                app.state.sessions, settings.admin_key, "admin", "bootstrap admin", now
            )
        if settings.service_key:
            await ensure_bootstrap_key(
                app.state.sessions, settings.service_key, "service", "bootstrap service", now
            )
        try:
            yield
        finally:
            await app.state.pg.close()
            await engine.dispose()

    app = create_service_app(
        settings,
        title="helpdesk ticket-api",
        description=(
            "System of record for tickets, messages, history, departments, agents, customers, "
            "tags and custom fields. Every change is recorded in the ticket history and "
            "published as a domain event (see docs/events.md)."
        ),
        routers=[tickets_router, search_router, directory_router, whoami_router],
        resources=resources,
        auth=lambda app: DatabaseKeyAuth(app.state.sessions, app.state.key_cache),
        # The relay, not the API, talks to Kafka: events wait in the outbox while the broker
        # is away, so the API stays ready.
        readiness={"database": database_ready},
        clock=clock,
    )
    app.state.topics = Topics(settings.topic_prefix)
    # The authenticator trusts a verified key this long; revoking a key clears it here.
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds)
    return app


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Creation and write-backs never change session state (asyncpg still rolls back a
    transaction left open), so the reset query it would send on every release is a wasted
    round trip."""
