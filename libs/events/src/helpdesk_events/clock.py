"""One injectable source of time for every service.

Services never call ``datetime.now()`` directly, nor wait with ``asyncio.sleep``: they read
and wait on the clock they were given, so tests (and the admin "run at instant" endpoints)
can drive time without sleeping.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to.

    A task sleeping on it wakes when the clock is moved (``advance`` or ``set``) to the
    instant it waits for; ``next_wake`` tells a test when some task is waiting, and for what.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start instant")
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self._sleeper_added = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware instant")
        self._now = instant
        self._wake_due()

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        self._wake_due()
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken = asyncio.get_running_loop().create_future()
        sleeper = (self._now + timedelta(seconds=seconds), woken)
        self._sleepers.append(sleeper)
        self._sleeper_added.set()
        try:
            await woken
        finally:
            if sleeper in self._sleepers:
                self._sleepers.remove(sleeper)

    async def next_wake(self) -> datetime:
        """Wait until some task sleeps on this clock; the earliest instant one waits for."""
        while not self._sleepers:
            self._sleeper_added.clear()
            await self._sleeper_added.wait()
        return min(wake_at for wake_at, _ in self._sleepers)

    def _wake_due(self) -> None:
        due = [sleeper for sleeper in self._sleepers if sleeper[0] <= self._now]
        for sleeper in due:
            self._sleepers.remove(sleeper)
            if not sleeper[1].done():
                sleeper[1].set_result(None)
