"""The ticket-api application: ``create_app()`` builds it; the lifespan owns the engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import Response
from helpdesk_events import Clock, SystemClock, Topics
from helpdesk_service import heap
from helpdesk_service.errors import BodySizeLimit, error_body, install_error_handlers
from helpdesk_service.responses import JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from .auth import KeyCache, ensure_bootstrap_key
from .config import Settings
from .db import make_engine, make_session_factory
from .directory.router import router as directory_router
from .tickets.router import router as tickets_router
from .tickets.search import router as search_router
from .whoami import router as whoami_router

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
            server_settings={"application_name": "ticket-api"},
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
        heap.settle()
        try:
            yield
        finally:
            await app.state.pg.close()
            await engine.dispose()

    app = FastAPI(
        title="helpdesk ticket-api",
        version="1.0.0",
        description=(
            "System of record for tickets, messages, history, departments, agents, customers, "
            "tags and custom fields. Every change is recorded in the ticket history and "
            "published as a domain event (see docs/events.md)."
        ),
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.topics = Topics(settings.topic_prefix)
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds)
    install_error_handlers(app)
    app.include_router(tickets_router)
    app.include_router(search_router)
    app.include_router(directory_router)
    app.include_router(whoami_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> JsonResponse:
        """The database answers. (The relay, not the API, talks to Kafka: events wait in the
        outbox while the broker is away, so the API stays ready.)"""
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JsonResponse(error_body("not_ready", f"database unreachable: {exc}"), 503)
        return JsonResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return _with_body_limit(app, settings.max_body_bytes)


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Creation and write-backs never change session state (asyncpg still rolls back a
    transaction left open), so the reset query it would send on every release is a wasted
    round trip."""


def _with_body_limit(app: FastAPI, limit: int) -> FastAPI:
    app.add_middleware(BodySizeLimit, limit=limit)
    return app
