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
