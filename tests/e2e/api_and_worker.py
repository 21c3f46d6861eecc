"""A service that consumes ticket events, started as the end-to-end tests run it: ticket-api
and its relay first, then the service's API on a free port and its worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from helpdesk_devstack.ports import free_port

from tests.e2e.helpers import http
from tests.e2e.suite import ServiceProcess, Suite


@asynccontextmanager
async def behind_ticket_api(
    suite: Suite,
    api_port: int,
    serve: Callable[[int, int], ServiceProcess],
    work: Callable[[int], ServiceProcess],
) -> AsyncIterator[tuple[ServiceProcess, httpx.AsyncClient, httpx.AsyncClient]]:
    """Start ticket-api on ``api_port``, its relay, ``serve(port, api_port)`` and
    ``work(api_port)``; the worker (to kill) and clients of ticket-api and the service."""
    port = free_port()
    suite.ticket_api(api_port).start()
    suite.relay().start()
    serve(port, api_port).start()
    worker = work(api_port)
    worker.start()
    async with http(api_port) as tickets, http(port) as service:
        yield worker, tickets, service
