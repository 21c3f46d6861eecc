"""Starting Kafka clients, producers and consumers alike, when the broker may not be up yet."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def start_when_reachable(
    stop: asyncio.Event, who: str, *starts: Callable[[], Awaitable[None]], retry: float = 1.0
) -> bool:
    """Run each Kafka client's ``start`` once, in order, retrying while the broker cannot be
    reached (a service may come up before it). False if ``stop`` was set first."""
    pending = list(starts)
    while pending:
        if stop.is_set():
            return False
        try:
            await pending[0]()
        except Exception as exc:
            log.warning("%s: broker not reachable yet (%s); retrying", who, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry)
            continue
        pending.pop(0)
    return True
