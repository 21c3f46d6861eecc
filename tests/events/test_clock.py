import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from helpdesk_events import ManualClock, SystemClock


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    clock.advance(hours=48)
    assert clock.now() == datetime(2026, 1, 3, tzinfo=UTC)
    clock.advance(timedelta(minutes=1))
    assert clock.now() == datetime(2026, 1, 3, 0, 1, tzinfo=UTC)


def test_manual_clock_refuses_naive_instants():
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))


def test_system_clock_is_aware():
    assert SystemClock().now().tzinfo is not None


async def test_a_sleep_on_the_manual_clock_ends_when_the_clock_reaches_its_instant():
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    sleeping = asyncio.create_task(clock.sleep(30))
    assert await clock.next_wake() == datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    clock.advance(seconds=29)
    await asyncio.sleep(0)
    assert not sleeping.done()
    clock.advance(seconds=1)
    await asyncio.wait_for(sleeping, timeout=5)


async def test_a_cancelled_sleep_leaves_no_sleeper_behind():
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    first = asyncio.create_task(clock.sleep(10))
    await clock.next_wake()
    second = asyncio.create_task(clock.sleep(20))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert await clock.next_wake() == datetime(2026, 1, 1, 0, 0, 20, tzinfo=UTC)
    clock.set(datetime(2026, 1, 2, tzinfo=UTC))
    await asyncio.wait_for(second, timeout=5)
