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
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from helpdesk_events import ManualClock, OutboundRequest
from helpdesk_notifier.config import Settings
from helpdesk_notifier.delivery.engine import DeliveryEngine
from helpdesk_notifier.delivery.http import HttpSender
from helpdesk_notifier.delivery.mail import MailSender, SmtpSettings
from helpdesk_notifier.delivery.schedule import MAX_ATTEMPTS
from helpdesk_notifier.delivery.ssrf import parse_networks
from helpdesk_notifier.delivery.store import store_request
from helpdesk_notifier.handlers.tickets import handlers as ticket_handlers
from helpdesk_notifier.main import create_app
from helpdesk_notifier.models import CONSUMER
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SERVICE_KEY, admin_api, running, service_settings

# The rule engine with ticket-api, for the tests of the contract between the two.
from tests.rule_engine.conftest import engine, full_traces, max_depth, rule_app, rules  # noqa: F401
from tests.rule_engine.pump import Pump, pumping

LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.fixture
def clock() -> ManualClock:
    # Receivers verify signatures against their own clock (5 minutes' tolerance), so the
    # test clock starts at the real instant; tests move it on by hand from there.
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def notifier_settings(database_url: str) -> Settings:
    return service_settings(
        Settings,
        database_url,
        # No ticket-api here: the admin key is a bootstrap key, checked locally.
        ticket_api_url="http://127.0.0.1:9",
        allowed_networks=LOOPBACK,
    )


@pytest.fixture
def agent_auth_settings(database_url: str, ticket_api_url: str) -> Settings:
    """The notifier checking callers' keys with ticket-api (agents' keys too)."""
    return service_settings(
        Settings, database_url, ticket_api_url=ticket_api_url, allowed_networks=LOOPBACK
    )


@pytest.fixture
async def notifier_for(
    agent_auth_settings: Settings, clock: ManualClock
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of the notifier API with a given key (checked by ticket-api)."""
    clients: list[httpx.AsyncClient] = []
    async with running(create_app(agent_auth_settings, clock=clock)) as application:

        def build(key: str) -> httpx.AsyncClient:
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(application),
                base_url="http://notifier",
                headers={"Authorization": f"Bearer {key}"},
            )
            clients.append(client)
            return client

        yield build
        for client in clients:
            await client.aclose()


@pytest.fixture
async def notifier_app(notifier_settings: Settings, clock: ManualClock) -> AsyncIterator[Any]:
    async with running(create_app(notifier_settings, clock=clock)) as application:
        yield application


notifier = admin_api(notifier_app, "notifier")


@pytest.fixture
async def ticket_api(ticket_api_url: str) -> AsyncIterator[TicketApiClient]:
    """ticket-api as the notifier's worker reaches it, with the service key."""
    session = ticket_api_session(ticket_api_url)
    yield TicketApiClient(session, SERVICE_KEY)
    await session.close()


@pytest.fixture
async def ticket_pump(
    db: AsyncEngine, clock: ManualClock, ticket_api: TicketApiClient
) -> AsyncIterator[Pump]:
    """The notifier's ticket handlers, as its worker runs them, for events of
    ``helpdesk.tickets`` (ticket-api's, and the router's)."""
    async with pumping(
        db,
        clock,
        name="notifier",
        topic="helpdesk.tickets",
        handlers=ticket_handlers(ticket_api, timedelta(hours=1)),
        tables=CONSUMER,
    ) as pump:
        yield pump


@pytest.fixture
async def ticket_events(ticket_pump: Pump) -> Callable[..., Any]:
    """Deliver ticket-api's committed events to the notifier's ticket handlers."""

    async def deliver() -> None:
        for topic, key, value in await ticket_pump.take_outbox("tickets"):
            await ticket_pump.deliver(topic, key, value)

    return deliver


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


class Mailbox:
    """An aiosmtpd handler that keeps what it receives; ``refuse`` makes it answer with
    that SMTP reply to DATA instead."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse is not None:
            return self.refuse
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
async def mailbox(smtp_port: int) -> AsyncIterator[Mailbox]:
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box), "127.0.0.1", smtp_port)
    yield box
    server.close()
    await server.wait_closed()


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


async def retry_until_dead(
    db: AsyncEngine, clock: ManualClock, deliveries: DeliveryEngine, delivery_id: uuid.UUID
) -> Any:
    """Send the delivery, failing each time, at every retry its schedule sets until the last
    attempt; its row afterwards."""
    for _ in range(MAX_ATTEMPTS):
        assert await deliveries.run_due() == 1
        row = await delivery_row(db, delivery_id)
        if row.state == "pending":
            clock.set(row.next_attempt_at)
    return row


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
