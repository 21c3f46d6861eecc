"""Retry-After as the receiver may write it (delay seconds or an HTTP date), read by the
retry schedule (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpdesk_notifier.delivery.schedule import parse_retry_after

NOW = datetime(2026, 10, 21, 7, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("120", timedelta(seconds=120)),
        (" 7 ", timedelta(seconds=7)),
        # an HTTP date ten minutes ahead
        ("Wed, 21 Oct 2026 07:38:00 GMT", timedelta(minutes=10)),
        # the same instant written with an offset
        ("Wed, 21 Oct 2026 09:38:00 +0200", timedelta(minutes=10)),
        # a date already past: call again now, not "a while ago"
        ("Wed, 21 Oct 2026 06:28:00 GMT", timedelta(0)),
        # "-0000" is a date without a known zone (parsed as naive): not trusted
        ("Wed, 21 Oct 2026 07:38:00 -0000", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, wait: timedelta | None) -> None:
    assert parse_retry_after(header, NOW) == wait
