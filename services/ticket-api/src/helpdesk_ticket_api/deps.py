"""Request-scoped dependencies: the database session (the kit's, re-exported so the routers
import both from here) and the app's shared state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from helpdesk_events import Clock, Topics
from helpdesk_service.db import Session as Session


@dataclass(frozen=True)
class AppContext:
    clock: Clock
    topics: Topics


async def context_dep(request: Request) -> AppContext:
    state = request.app.state
    return AppContext(clock=state.clock, topics=state.topics)


Ctx = Annotated[AppContext, Depends(context_dep)]
