"""Fixtures for the ticket-api tests (on top of tests/conftest.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from helpdesk_events import Topics

from tests.conftest import SERVICE_KEY, Api

AgentClient = Callable[..., Awaitable[tuple[dict[str, Any], httpx.AsyncClient]]]


@pytest.fixture
async def as_agent(
    api: Api, client_for: Callable[[str], httpx.AsyncClient]
) -> AsyncIterator[AgentClient]:
    """Create an agent (in the given departments) with its own key; return it and a client."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            departments: list[str] | None = None, **extra: Any
        ) -> tuple[dict[str, Any], httpx.AsyncClient]:
            agent = await api.agent(departments, **extra)
            key = await api.agent_key(agent["id"])
            return agent, await stack.enter_async_context(client_for(key))

        yield make


@pytest.fixture
async def service(
    client_for: Callable[[str], httpx.AsyncClient],
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the bootstrap service key."""
    async with client_for(SERVICE_KEY) as c:
        yield c


@pytest.fixture
def topics() -> Topics:
    """ticket-api only writes events to its outbox table (the relay publishes them), so these
    tests need a topic prefix but no topics on the broker."""
    return Topics(prefix=f"t-{uuid.uuid4().hex[:10]}.")
