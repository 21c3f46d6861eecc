"""Request-scoped dependencies: the database session and the app's shared state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from helpdesk_events import Clock, Topics
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class AppContext:
    clock: Clock
    topics: Topics


async def session_dep(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for the request. Handlers commit explicitly once their work is complete;
    anything not committed is rolled back when the request ends."""
    async with request.app.state.sessions() as session:
        yield session


async def context_dep(request: Request) -> AppContext:
    state = request.app.state
    return AppContext(clock=state.clock, topics=state.topics)


Session = Annotated[AsyncSession, Depends(session_dep)]
Ctx = Annotated[AppContext, Depends(context_dep)]
