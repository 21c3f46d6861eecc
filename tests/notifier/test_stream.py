"""The in-app stream over real HTTP: the notifier's API served by uvicorn on loopback, read
by an HTTP client as server-sent events while the worker's handler stores notifications
(its NOTIFY on commit wakes the stream); reconnecting with Last-Event-ID replays what the
agent missed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock
from helpdesk_notifier.config import Settings
from helpdesk_notifier.main import create_app
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, served_on_loopback

# Long enough to read events without heartbeats, short enough to see one in a test.
HEARTBEAT_SECONDS = 0.5


@pytest.fixture
async def notifier_url(agent_auth_settings: Settings, clock: ManualClock) -> AsyncIterator[str]:
    """The notifier's API (its lifespan included: the LISTEN connection) on a free loopback
    port, checking keys with ticket-api."""
    settings = agent_auth_settings.model_copy(
        update={"stream_heartbeat_seconds": HEARTBEAT_SECONDS}
    )
    application = create_app(settings, clock=clock)
    async with served_on_loopback(application, lifespan="on") as url:
        # Streams opened before the LISTEN connection is up would only hear the first wake-up.
        await asyncio.wait_for(application.state.notification_listener.listening.wait(), 5)
        yield url


class EventReader:
    """Reads one open stream: server-sent events as dicts (``id``, ``event``, ``data``),
    and comment lines as ``{"comment": …}``."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 5.0) -> dict[str, str]:
        message: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if not line:
                    if message:
                        return message
                    continue
                if line.startswith(":"):
                    return {"comment": line[1:].strip()}
                name, _, value = line.partition(":")
                message[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def notification(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next notification, skipping heartbeats."""
        async with asyncio.timeout(timeout):
            while "comment" in (message := await self.next()):
                pass
        assert message["event"] == "notification"
        data: dict[str, Any] = json.loads(message["data"])
        assert message["id"] == str(data["id"])
        return data


@asynccontextmanager
async def open_stream(
    url: str, key: str, path: str = "/v1/agents/me/stream", **headers: str
) -> AsyncIterator[EventReader]:
    async with (
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http,
        http.stream("GET", path, headers=headers, timeout=10) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        # The first line says the stream is subscribed: what is stored from now on arrives.
        assert await reader.next() == {"comment": "stream open"}
        yield reader


async def test_stream_delivers_live_and_replays_after_reconnect(
    api: Any,
    client: httpx.AsyncClient,
    ticket_events: Callable[..., Any],
    notifier_url: str,
) -> None:
    support = await api.department("Support")
    alice = await api.agent([support["id"]], name="Alice")
    key = await api.agent_key(alice["id"])
    ticket = await api.ticket(subject="Printer on fire")

    async with open_stream(notifier_url, key) as stream:
        await client.post(f"/v1/tickets/{ticket['id']}/transfer", json={"agent_id": alice["id"]})
        await ticket_events()
        first = await stream.notification()
        assert (first["kind"], first["ticket_id"]) == ("assigned", ticket["id"])
        assert "Printer on fire" in first["title"]
        # idle: a heartbeat comment keeps the connection open
        assert await stream.next() == {"comment": "heartbeat"}

    # while Alice is away the customer writes twice
    for body in ("Still burning.", "Now smoking."):
        await client.post(
            f"/v1/tickets/{ticket['id']}/messages", json={"author_kind": "customer", "body": body}
        )
        await ticket_events()

    async with open_stream(notifier_url, key, **{"Last-Event-ID": str(first["id"])}) as stream:
        missed = [await stream.notification(), await stream.notification()]
        assert [n["kind"] for n in missed] == ["customer_replied", "customer_replied"]
        assert first["id"] < missed[0]["id"] < missed[1]["id"]
        # …then live again
        await client.post(
            f"/v1/tickets/{ticket['id']}/messages",
            json={"author_kind": "customer", "body": "Extinguished."},
        )
        await ticket_events()
        live = await stream.notification()
        assert live["id"] > missed[1]["id"]

    # a first connection without Last-Event-ID starts after the newest one
    async with open_stream(notifier_url, key) as stream:
        second = await api.ticket(subject="Toner everywhere")
        await client.post(f"/v1/tickets/{second['id']}/transfer", json={"agent_id": alice["id"]})
        await ticket_events()
        assert (await stream.notification())["ticket_id"] == second["id"]


async def test_stream_is_the_agents_own(
    api: Any,
    client: httpx.AsyncClient,
    ticket_events: Callable[..., Any],
    notifier_url: str,
) -> None:
    alice = await api.agent(name="Alice")
    bob = await api.agent(name="Bob")
    bob_key = await api.agent_key(bob["id"])
    async with httpx.AsyncClient(
        base_url=notifier_url, headers={"Authorization": f"Bearer {bob_key}"}
    ) as as_bob:
        forbidden = await as_bob.get(f"/v1/agents/{alice['id']}/stream")
        assert forbidden.status_code == 403
        bad = await as_bob.get("/v1/agents/me/stream", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 422
        assert "Last-Event-ID" in bad.text

    # Bob's stream stays quiet while Alice is assigned; the admin's stream of Alice hears it
    ticket = await api.ticket()
    async with (
        open_stream(notifier_url, bob_key) as bobs,
        open_stream(notifier_url, ADMIN_KEY, f"/v1/agents/{alice['id']}/stream") as alices,
    ):
        await client.post(f"/v1/tickets/{ticket['id']}/transfer", json={"agent_id": alice["id"]})
        await ticket_events()
        assert (await alices.notification())["ticket_id"] == ticket["id"]
        assert await bobs.next() == {"comment": "heartbeat"}


async def listener_pids(db: AsyncEngine) -> set[int]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'notifier-stream'"
                " AND datname = current_database()"
            )
        )
        return {row.pid for row in rows}


async def test_stream_survives_the_listener_losing_its_connection(
    api: Any,
    client: httpx.AsyncClient,
    ticket_events: Callable[..., Any],
    notifier_url: str,
    db: AsyncEngine,
) -> None:
    alice = await api.agent(name="Alice")
    key = await api.agent_key(alice["id"])
    async with open_stream(notifier_url, key) as stream:
        [lost] = await listener_pids(db)
        async with db.connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
        # assigned while nobody listens: heard once the listener is back
        ticket = await api.ticket()
        await client.post(f"/v1/tickets/{ticket['id']}/transfer", json={"agent_id": alice["id"]})
        await ticket_events()
        assert (await stream.notification())["ticket_id"] == ticket["id"]
        assert lost not in await listener_pids(db)
        # and live again after that
        second = await api.ticket()
        await client.post(f"/v1/tickets/{second['id']}/transfer", json={"agent_id": alice["id"]})
        await ticket_events()
        assert (await stream.notification())["ticket_id"] == second["id"]
