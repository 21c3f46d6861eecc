"""The rule-engine admin API: ``create_app()``; the consumer runs in ``cli worker``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from helpdesk_events import Clock, SystemClock
from helpdesk_service import heap
from helpdesk_service.auth import RemoteKeyAuth
from helpdesk_service.db import database_ready, make_engine, make_session_factory
from helpdesk_service.errors import BodySizeLimit, install_error_handlers
from helpdesk_service.ops import ops_router
from helpdesk_service.responses import JsonResponse

from .clients.ticket_api import TicketApiClient, ticket_api_session
from .config import Settings
from .postgres_text import json_dumps
from .rules.router import router as rules_router


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            application_name="rule-engine",
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            json_serializer=json_dumps,
        )
        http = httpx.AsyncClient(base_url=settings.ticket_api_url, timeout=10.0)
        session = ticket_api_session(settings.ticket_api_url)
        app.state.engine = engine
        app.state.sessions = make_session_factory(engine)
        app.state.auth = RemoteKeyAuth(http, bootstrap_keys={settings.admin_key or "": "admin"})
        app.state.ticket_api = TicketApiClient(session, settings.service_key or "")
        heap.settle()
        try:
            yield
        finally:
            await session.close()
            await http.aclose()
            await engine.dispose()

    app = FastAPI(
        title="helpdesk rule-engine",
        version="1.0.0",
        description=(
            "Action rules and SLA rules. Rules run on ticket events in order; every decision is "
            "recorded with the conditions' values, so 'why did (not) this rule fire?' is "
            "answered."
        ),
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    install_error_handlers(app)
    app.include_router(rules_router)
    app.include_router(ops_router({"database": database_ready}))
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    return app
