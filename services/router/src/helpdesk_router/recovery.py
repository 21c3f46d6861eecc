"""What the worker does besides consuming: before it consumes, it reads every agent from
ticket-api (routing/agents.py) and writes back the reservations a killed process left
(routing/assignment.py); while it runs, it writes back again every
``ROUTER_PENDING_RETRY_SECONDS`` the reservations older than that (ticket-api was down
when they were made, or the router instance that made them is gone)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from helpdesk_events import Clock
from helpdesk_ticket_client import TicketApiClient, TicketApiError
from sqlalchemy.ext.asyncio import AsyncEngine

from .routing.agents import sync_agents
from .routing.assignment import autocommit_connection, retry_pending

log = logging.getLogger(__name__)

# Between attempts while ticket-api or the database cannot be reached at start.
START_RETRY_SECONDS = 2.0


class Recovery:
    def __init__(
        self, engine: AsyncEngine, ticket_api: TicketApiClient, clock: Clock, every: float
    ) -> None:
        self._engine = engine
        self._ticket_api = ticket_api
        self._clock = clock
        self._every = every

    async def prepare(self, stop: asyncio.Event) -> None:
        """Sync the agents and finish what a killed process left; tried again until it
        succeeds or ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.prepare_once()
                return
            except TicketApiError as exc:
                # Expected while ticket-api is still starting (make run starts all at once).
                log.warning("router worker: waiting for ticket-api (%s); trying again", exc)
            except Exception:
                log.exception("router worker: preparing failed; trying again")
            await _wait(stop, START_RETRY_SECONDS)

    async def prepare_once(self) -> None:
        async with autocommit_connection(self._engine) as db:
            agents = await sync_agents(db, self._ticket_api)
            pending = await retry_pending(db, self._ticket_api, self._clock.now())
        log.info("router worker: %d agents synced, %d assignments written back", agents, pending)

    async def retry_stale(self, stop: asyncio.Event) -> None:
        """Write back the reservations older than ``every`` seconds, every ``every``
        seconds, until ``stop`` is set."""
        while not await _wait(stop, self._every):
            try:
                async with autocommit_connection(self._engine) as db:
                    await retry_pending(
                        db,
                        self._ticket_api,
                        self._clock.now() - timedelta(seconds=self._every),
                    )
            except Exception:
                log.exception("router worker: writing back pending assignments failed")


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop`` is set; whether it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
