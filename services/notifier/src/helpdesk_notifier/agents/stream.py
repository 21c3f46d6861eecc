"""The in-app stream's wake-ups across processes: the worker stores an agent's notification
and, in the same transaction, NOTIFYs the agent's id on a PostgreSQL channel; every API
process LISTENs on one connection of its own and wakes the streams open for that agent,
which then read what is new from the table. PostgreSQL delivers a NOTIFY only when its
transaction commits, so a woken stream always finds the row."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

CHANNEL = "notify_agent_notification"

_ANNOUNCE = text("SELECT pg_notify(:channel, agent) FROM unnest(CAST(:agents AS text[])) AS agent")


async def announce(session: AsyncSession, agents: Collection[uuid.UUID]) -> None:
    """Wake the open streams of ``agents`` (in every API process) when the session's
    transaction commits."""
    if agents:
        await session.execute(
            _ANNOUNCE, {"channel": CHANNEL, "agents": sorted(str(a) for a in agents)}
        )


class NotificationListener:
    """One LISTEN connection per API process, fanning the wake-ups out to the open streams.
    When the connection is lost it reconnects and wakes every stream, since whatever was
    announced meanwhile went unheard."""

    def __init__(self, database_url: str, *, reconnect_seconds: float = 1.0) -> None:
        self._dsn = (
            make_url(database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._reconnect_seconds = reconnect_seconds
        self._streams: dict[uuid.UUID, set[asyncio.Event]] = {}
        self.listening = asyncio.Event()

    @contextmanager
    def subscribe(self, agent_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set whenever ``agent_id`` may have new notifications; the stream clears
        it before each read."""
        woken = asyncio.Event()
        self._streams.setdefault(agent_id, set()).add(woken)
        try:
            yield woken
        finally:
            streams = self._streams[agent_id]
            streams.discard(woken)
            if not streams:
                del self._streams[agent_id]

    def _wake(self, agent_id: uuid.UUID) -> None:
        for woken in self._streams.get(agent_id, ()):
            woken.set()

    def _wake_all(self) -> None:
        for agent_id in self._streams:
            self._wake(agent_id)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            agent_id = uuid.UUID(payload)
        except ValueError:
            log.warning("ignoring a notification announcement for %r", payload)
            return
        self._wake(agent_id)

    async def run(self) -> None:
        """Listen until cancelled."""
        while True:
            try:
                await self._listen_once()
                log.warning("the notification listener lost its connection; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.exception("listening for notifications failed; trying again")
            await asyncio.sleep(self._reconnect_seconds)

    async def _listen_once(self) -> None:
        lost = asyncio.Event()
        connection = await asyncpg.connect(
            self._dsn, server_settings={"application_name": "notifier-stream"}
        )
        try:
            connection.add_termination_listener(lambda _conn: lost.set())
            await connection.add_listener(CHANNEL, self._on_notify)
            self.listening.set()
            self._wake_all()
            await lost.wait()
        finally:
            self.listening.clear()
            await connection.close(timeout=1)
