"""Fixtures shared by the whole suite.

The session starts its own PostgreSQL cluster and broker (helpdesk_devstack.pytest_plugin).
Each test gets a fresh database copied from a migrated template and its own topic prefix,
so tests never see each other's rows or events.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import httpx
import pytest
import uvicorn
from helpdesk_devstack.broker import LocalBroker, ensure_topics, reading_from_start
from helpdesk_devstack.postgres import LocalPostgres
from helpdesk_devstack.stack import migration_commands
from helpdesk_events import EventBase, ManualClock, Topics, decode_event
from helpdesk_service.cli import ServiceCli
from helpdesk_service.settings import ServiceSettings
from helpdesk_sla_tracker.config import Settings as SlaSettings
from helpdesk_sla_tracker.main import create_app as create_sla_tracker
from helpdesk_ticket_api.config import Settings
from helpdesk_ticket_api.main import create_app
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

pytest_plugins = ["helpdesk_devstack.pytest_plugin"]

PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"
ADMIN_KEY = "test-admin-key"
SERVICE_KEY = "test-service-key"
_counter = itertools.count()


@pytest.fixture(scope="session")
async def suite_template(pg_server: LocalPostgres) -> str:
    """A database with the migrations of every service the Procfile names applied (each in
    its own schema, as in ``make run``), copied for each test."""
    name = "tpl_suite"
    await pg_server.drop_database(name)
    await pg_server.create_database(name)
    url = pg_server.url_for(name)
    for script, _ in migration_commands(PROCFILE):
        service: ServiceCli = importlib.import_module(f"{script.replace('-', '_')}.cli").SERVICE
        await asyncio.to_thread(service.migrate, service.settings(database_url=url))
    return name


@pytest.fixture
async def database_url(pg_server: LocalPostgres, suite_template: str) -> AsyncIterator[str]:
    name = f"t_{next(_counter)}_{uuid.uuid4().hex[:8]}"
    await pg_server.create_database(name, template=suite_template)
    yield pg_server.url_for(name)
    await pg_server.drop_database(name)


@pytest.fixture
async def topics(kafka_broker: LocalBroker) -> Topics:
    t = Topics(prefix=f"t{next(_counter)}-{uuid.uuid4().hex[:6]}.")
    await ensure_topics(kafka_broker.bootstrap_servers, t.all(), partitions=3)
    return t


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url: str, topics: Topics, kafka_broker: LocalBroker) -> Settings:
    return service_settings(
        Settings,
        database_url,
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        topic_prefix=topics.prefix,
        db_pool_size=5,
        db_max_overflow=5,
    )


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def service_settings(
    settings_class: type[SettingsT], database_url: str, **values: Any
) -> SettingsT:
    """A service's settings for a test: its database, the suite's keys and small pools
    (``values`` add to them or override them)."""
    defaults: dict[str, Any] = {
        "admin_key": ADMIN_KEY,
        "service_key": SERVICE_KEY,
        "db_pool_size": 3,
        "db_max_overflow": 3,
    }
    return settings_class(database_url=database_url, **{**defaults, **values})


@asynccontextmanager
async def running(application: Any) -> AsyncIterator[Any]:
    """A service's app with its lifespan open (engine, clients, background tasks)."""
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Any]:
    async with running(create_app(settings, clock=clock)) as application:
        yield application


@asynccontextmanager
async def served_on_loopback(
    app: Any, lifespan: Literal["on", "off"] = "off"
) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port (its lifespan handled by the caller
    unless ``lifespan="on"``); the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


@pytest.fixture
async def ticket_api_url(app: Any) -> AsyncIterator[str]:
    """The in-process ticket-api, served over loopback (the other services reach it over
    HTTP, as in production)."""
    async with served_on_loopback(app) as url:
        yield url


@pytest.fixture
async def sla_app(in_process: InProcess, topics: Topics) -> AsyncIterator[Any]:
    """The sla-tracker in process beside ticket-api."""
    async with in_process(
        create_sla_tracker, SlaSettings, topic_prefix=topics.prefix
    ) as application:
        yield application


@pytest.fixture
async def sla_tracker_url(sla_app: Any) -> AsyncIterator[str]:
    """The in-process sla-tracker, served over loopback: rules naming SLA levels are checked
    against it when saved."""
    async with served_on_loopback(sla_app) as url:
        yield url


def admin_client(app: Any, host: str) -> httpx.AsyncClient:
    """An HTTP client with the admin key for a service's app in process (``async with``)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url=f"http://{host}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )


@pytest.fixture
def client_for(app: Any) -> Callable[[str], httpx.AsyncClient]:
    """Build a client that authenticates with another key (close it with ``async with``)."""

    def build(key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://ticket-api",
            headers={"Authorization": f"Bearer {key}"},
        )

    return build


class Api:
    """Small helpers to set up directory records in tests."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(path, json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def department(self, name: str | None = None) -> dict[str, Any]:
        return await self._post("/v1/departments", {"name": name or f"Dept {uuid.uuid4().hex[:6]}"})

    async def agent(self, departments: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        body = {
            "name": extra.pop("name", "Agent"),
            "email": extra.pop("email", f"agent-{uuid.uuid4().hex[:8]}@example.com"),
            "department_ids": departments or [],
            **extra,
        }
        return await self._post("/v1/agents", body)

    async def agent_key(self, agent_id: str) -> str:
        created = await self._post(
            "/v1/api-keys", {"name": "agent key", "role": "agent", "agent_id": agent_id}
        )
        return str(created["key"])

    async def ticket(self, **body: Any) -> dict[str, Any]:
        body.setdefault("subject", "Printer on fire")
        body.setdefault("channel", "email")
        body.setdefault("customer", {"email": "customer@example.com", "name": "Cleo Customer"})
        body.setdefault("message", {"body": "It is on fire."})
        return await self._post("/v1/tickets", body)


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


async def collect_events(
    bootstrap_servers: str,
    topic: str,
    count: int,
    *,
    timeout: float = 20.0,
    predicate: Callable[[EventBase], bool] | None = None,
    distinct: bool = False,
) -> list[Any]:
    """Read a topic from the beginning until ``count`` matching events arrived (or time out).

    With ``distinct``, a redelivered event (same id) counts once."""
    events: list[Any] = []
    seen: set[uuid.UUID] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with reading_from_start(bootstrap_servers, topic, "collector") as consumer:
        while len(events) < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    event = decode_event(record.value or b"")
                    if distinct and event.id in seen:
                        continue
                    seen.add(event.id)
                    if predicate is None or predicate(event):
                        events.append(event)
    return events


async def mark_processed(
    conn: AsyncConnection,
    schema: str,
    consumer: str,
    at: datetime,
    event_id: uuid.UUID | None = None,
) -> None:
    """A consumer's processed-event mark (the dedupe row retention expires), made ``at``."""
    await insert_row(
        conn,
        f"{schema}.processed_event",
        consumer=consumer,
        event_id=event_id or uuid.uuid4(),
        processed_at=at,
    )


async def row_counts(db: AsyncEngine, tables: Iterable[str]) -> dict[str, int]:
    async with db.connect() as conn:
        return {t: int(await conn.scalar(text(f"SELECT count(*) FROM {t}"))) for t in tables}


def admin_api(app_fixture: Callable[..., object], host: str) -> Callable[..., httpx.AsyncClient]:
    """A fixture: the admin API (a client with the admin key) of the service app that
    ``app_fixture`` runs in process."""

    @pytest.fixture
    def admin(request: pytest.FixtureRequest) -> httpx.AsyncClient:
        # A plain fixture, so that it may set up the async app fixture it names; a client
        # on an ASGITransport holds no connections, so there is nothing to close.
        return admin_client(request.getfixturevalue(app_fixture.__name__), host)

    return admin


client = admin_api(app, "ticket-api")
sla = admin_api(sla_app, "sla-tracker")


class InProcess(Protocol):
    def __call__(
        self,
        create_app: Callable[..., Any],
        settings_class: type[ServiceSettings],
        /,
        **values: Any,
    ) -> AbstractAsyncContextManager[Any]: ...


@pytest.fixture
def in_process(database_url: str, ticket_api_url: str, clock: ManualClock) -> InProcess:
    """Runs a service's app (``create_app``, ``settings_class``) in process beside ticket-api:
    on the test database, reaching ticket-api over loopback, on the test clock; keyword
    arguments add settings (``async with``)."""

    def start(
        create_app: Callable[..., Any], settings_class: type[ServiceSettings], /, **values: Any
    ) -> AbstractAsyncContextManager[Any]:
        settings = service_settings(
            settings_class, database_url, ticket_api_url=ticket_api_url, **values
        )
        return running(create_app(settings, clock=clock))

    return start


async def insert_row(conn: AsyncConnection, table: str, **columns: Any) -> None:
    """One row of ``table``, its values given by column name (the others take their
    defaults)."""
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    await conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({values})"), columns)
