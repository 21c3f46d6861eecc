"""Fixtures for notifier tests: the admin API in process, the delivery engine on the test
database with the clock driven by hand, and real receivers on loopback (an HTTP server whose
answers each test scripts, an aiosmtpd SMTP server)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from helpdesk_events import ManualClock
from helpdesk_notifier.config import Settings
from helpdesk_notifier.delivery.engine import DeliveryEngine
from helpdesk_notifier.delivery.http import HttpSender
from helpdesk_notifier.delivery.mail import MailSender, SmtpSettings
from helpdesk_notifier.delivery.ssrf import parse_networks
from helpdesk_notifier.main import create_app
from helpdesk_service.db import make_engine, make_session_factory
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY

LOOPBACK = parse_networks("127.0.0.0/8")


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
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(notifier_app),
        base_url="http://notifier",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        yield client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, application_name="notifier-test", pool_size=4)
    yield engine
    await engine.dispose()


Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


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

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(request: web.Request) -> web.StreamResponse:
        state.requests.append(
            Received(request.method, request.path, dict(request.headers), await request.read())
        )
        answer = state.answers.get(request.path)
        if answer is None:
            return web.Response(text="ok")
        return await answer(request)

    server = web.Server(handle)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, shutdown_timeout=0.1)
    await site.start()
    state.port = sock.getsockname()[1]
    yield state
    await runner.cleanup()


@pytest.fixture
def smtp_port() -> int:
    # Nothing listens here unless a test starts an SMTP server on it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
async def deliveries(
    db: AsyncEngine, clock: ManualClock, smtp_port: int
) -> AsyncIterator[DeliveryEngine]:
    http = HttpSender(timeout_seconds=0.5, connections=32)
    engine = DeliveryEngine(
        make_session_factory(db),
        clock,
        http=http,
        mail=MailSender(
            SmtpSettings(
                host="127.0.0.1",
                port=smtp_port,
                username=None,
                password=None,
                starttls=False,
                timeout_seconds=2,
            )
        ),
        mail_from="helpdesk@example.com",
        allowed_networks=LOOPBACK,
        endpoint_concurrency=2,
        max_in_flight=16,
        lease=timedelta(seconds=60),
    )
    yield engine
    await http.close()


async def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for something another task does (not for time to pass)."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)
