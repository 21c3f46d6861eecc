"""``create_service_app``: the FastAPI application every service builds its own from.

It gives every service the same outside: the error format (``errors``), the caller's key
checked by the service's authenticator (``auth``), ``/healthz`` ``/readyz`` ``/metrics``
(``ops``), HTTP request metrics by route template and status (``metrics``), the body size
limit, and an OpenAPI document with the service's title and version that lists every
status each route can answer (``contract``). The service brings
its routers, what readiness checks, and its resources (engine, clients) as a lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from helpdesk_events import Clock, SystemClock
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from starlette.middleware import Middleware
from starlette.routing import Route

from . import heap
from .auth import KeyAuthenticator, RemoteKeyAuth
from .contract import install_contract
from .db import database_ready, make_engine, make_session_factory
from .errors import BodySizeLimit, install_error_handlers
from .metrics import HttpMetrics
from .ops import ReadinessCheck, ops_router
from .responses import JsonResponse
from .settings import ServiceSettings
from .worker import WorkerSettings

# Opens the service's resources (engine, clients …) on app.state and closes them after.
Resources = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Builds the authenticator once the resources are open (it may need the database or a client).
Authenticator = Callable[[FastAPI], KeyAuthenticator[Any]]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    resources: Resources,
    auth: Authenticator,
    readiness: Mapping[str, ReadinessCheck],
    clock: Clock | None = None,
    middleware: Sequence[Middleware] = (),
    version: str = "1.0.0",
) -> FastAPI:
    """A service's app. ``middleware`` (outermost first) runs inside the body limit and the
    metrics, in front of the routes. ``app.state`` holds ``settings``, ``clock`` and, while
    the app runs, ``auth`` and whatever ``resources`` put there."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with resources(app):
            app.state.auth = auth(app)
            heap.settle()
            yield

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    ops = ops_router(dict(readiness))
    app.include_router(ops)
    install_contract(app, public_paths={r.path for r in ops.routes if isinstance(r, Route)})
    # add_middleware wraps what is there: the last added is the outermost.
    for layer in reversed(middleware):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(HttpMetrics)
    return app


@asynccontextmanager
async def open_database_and_ticket_api(
    app: FastAPI, settings: WorkerSettings, name: str, **engine_options: Any
) -> AsyncIterator[None]:
    """The resources of a service that keeps its own tables and checks callers through
    ticket-api: ``app.state.engine`` and ``sessions`` (connections named ``name``), and one
    ``app.state.ticket_api`` client for everything it asks ticket-api (callers' keys,
    directory records, tickets). Closed when the app stops."""
    engine = make_engine(
        settings.database_url,
        application_name=name,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        **engine_options,
    )
    session = ticket_api_session(settings.ticket_api_url)
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    app.state.ticket_api = TicketApiClient(session, settings.service_key or "")
    try:
        yield
    finally:
        await session.close()
        await engine.dispose()


@asynccontextmanager
async def background_task(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """``work`` runs as a task while the block runs (e.g. the app's lifespan); cancelled
    and awaited when the block ends."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ticket_api_auth(settings: ServiceSettings) -> Authenticator:
    """Callers' keys checked by ticket-api's ``/v1/whoami`` through ``app.state.ticket_api``
    (see ``open_database_and_ticket_api``); the bootstrap admin key is known locally."""
    return lambda app: RemoteKeyAuth(
        app.state.ticket_api, bootstrap_keys={settings.admin_key or "": "admin"}
    )


def create_database_service_app(
    settings: WorkerSettings,
    *,
    name: str,
    description: str,
    routers: Sequence[APIRouter],
    resources: Resources | None = None,
    clock: Clock | None = None,
    **engine_options: Any,
) -> FastAPI:
    """The app of a service that keeps its own tables and checks callers through ticket-api
    (every service but ticket-api itself), titled ``helpdesk <name>``: its database and
    ticket-api client opened by ``open_database_and_ticket_api`` (connections named
    ``name``, ``engine_options`` for the engine) with the service's own ``resources`` inside,
    callers' keys checked by ``ticket_api_auth``, ready when the database answers."""

    @asynccontextmanager
    async def database_and_own_resources(app: FastAPI) -> AsyncIterator[None]:
        async with open_database_and_ticket_api(app, settings, name, **engine_options):
            if resources is None:
                yield
            else:
                async with resources(app):
                    yield

    return create_service_app(
        settings,
        title=f"helpdesk {name}",
        description=description,
        routers=routers,
        resources=database_and_own_resources,
        auth=ticket_api_auth(settings),
        readiness={"database": database_ready},
        clock=clock,
    )
