"""Fixtures for notifier tests: the admin API in process, the delivery engine on the test
database with the clock driven by hand, and real receivers on loopback (an HTTP server whose
answers each test scripts, an aiosmtpd SMTP server)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from helpdesk_events import ManualClock, OutboundRequest
from helpdesk_notifier.config import Settings
from helpdesk_notifier.delivery.engine import DeliveryEngine
from helpdesk_notifier.delivery.http import HttpSender
from helpdesk_notifier.delivery.mail import MailSender, SmtpSettings
from helpdesk_notifier.delivery.ssrf import parse_networks
from helpdesk_notifier.delivery.store import store_request
from helpdesk_notifier.main import create_app
from helpdesk_service.db import make_engine, make_session_factory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, admin_client

# The rule engine with ticket-api, for the tests of the contract between the two.
from tests.rule_engine.conftest import (  # noqa: F401 - fixtures
    engine,
    full_traces,
    max_depth,
    rule_app,
    rules,
    sla_app,
    sla_tracker_url,
    ticket_api_url,
)

LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.fixture
def clock() -> ManualClock:
    # Receivers verify signatures against their own clock (5 minutes' tolerance), so the
    # test clock starts at the real instant; tests move it on by hand from there.
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def notifier_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        admin_key=ADMIN_KEY,
        # No ticket-api here: the admin key is a bootstrap key, checked locally.
        ticket_api_url="http://127.0.0.1:9",
        allowed_networks=LOOPBACK,
        db_pool_size=3,
        db_max_overflow=3,
    )


@pytest.fixture
async def notifier_app(notifier_settings: Settings, clock: ManualClock) -> AsyncIterator[Any]:
    application = create_app(notifier_settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def notifier(notifier_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The notifier's admin API, with the admin key."""
    async with admin_client(notifier_app, "notifier") as client:
        yield client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    connections = make_engine(database_url, application_name="notifier-test", pool_size=4)
    yield connections
    await connections.dispose()


Answer = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on loopback. Each path answers with the handler set for it
    (200 by default) and every request is recorded."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    # Set at teardown: answers that hang wait for it.
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def hang(self, _: web.BaseRequest) -> web.StreamResponse:
        await self.released.wait()
        return web.Response(text="too late")

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@asynccontextmanager
async def serve_receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        state.requests.append(
            Received(request.method, request.path, dict(request.headers), await request.read())
        )
        answer = state.answers.get(request.path)
        if answer is None:
            return web.Response(text="ok")
        return await answer(request)

    runner = web.ServerRunner(web.Server(handle), handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    state.port = sock.getsockname()[1]
    try:
        yield state
    finally:
        state.released.set()
        await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serve_receiver() as state:
        yield state


@pytest.fixture
def smtp_port() -> int:
    # Nothing listens here unless a test starts an SMTP server on it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


EngineFactory = Callable[..., DeliveryEngine]


@pytest.fixture
async def engine_factory(
    db: AsyncEngine, clock: ManualClock, smtp_port: int
) -> AsyncIterator[EngineFactory]:
    """Delivery engines on the test database; keyword arguments override the defaults."""
    http = HttpSender(timeout_seconds=0.5, connections=32)

    def build(**overrides: Any) -> DeliveryEngine:
        options: dict[str, Any] = {
            "http": http,
            "mail": MailSender(
                SmtpSettings(
                    host="127.0.0.1",
                    port=smtp_port,
                    username=None,
                    password=None,
                    starttls=False,
                    timeout_seconds=2,
                )
            ),
            "mail_from": "helpdesk@example.com",
            "allowed_networks": LOOPBACK,
            "endpoint_concurrency": 2,
            "max_in_flight": 16,
            "lease": timedelta(seconds=60),
            **overrides,
        }
        return DeliveryEngine(make_session_factory(db), clock, **options)

    yield build
    await http.close()


@pytest.fixture
def deliveries(engine_factory: EngineFactory) -> DeliveryEngine:
    return engine_factory()


async def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for something another task does (not for time to pass)."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def store(db: AsyncEngine, clock: ManualClock, **request: Any) -> uuid.UUID:
    """Store an outbound request as the consumer does; returns the delivery id."""
    request.setdefault("dedupe_key", f"{uuid.uuid4()}:{uuid.uuid4()}:0")
    async with make_session_factory(db).begin() as session:
        return await store_request(session, OutboundRequest(**request), now=clock.now())


async def delivery_row(db: AsyncEngine, delivery_id: uuid.UUID) -> Any:
    async with db.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM notify.delivery WHERE id = :id"), {"id": delivery_id}
            )
        ).one()


async def attempts(db: AsyncEngine, delivery_id: uuid.UUID) -> list[Any]:
    async with db.connect() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        "SELECT * FROM notify.delivery_attempt WHERE delivery_id = :id"
                        " ORDER BY number"
                    ),
                    {"id": delivery_id},
                )
            ).all()
        )


async def endpoint_secret(db: AsyncEngine, url: str) -> str:
    async with db.connect() as conn:
        secret: str = (
            await conn.execute(
                text("SELECT e.secret FROM notify.endpoint e WHERE :url LIKE e.origin || '%'"),
                {"url": url},
            )
        ).scalar_one()
    return secret
