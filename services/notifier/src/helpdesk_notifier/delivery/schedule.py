"""When to try a failed delivery again: jittered exponential backoff over about three days,
stretched to what the receiver asked for with Retry-After. Pure functions."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# The wait after attempt 1, 2, …; after the last one the delivery is dead. The sum, with
# the jitter averaging out, is about three days (75.7 hours).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=12),
    timedelta(hours=12),
    timedelta(hours=12),
    timedelta(hours=12),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Each wait is scaled by a random factor in this range, so receivers that failed together
# are not all called again in the same second.
JITTER = (0.8, 1.2)
# A Retry-After further away than this is capped: the schedule keeps its three days.
MAX_RETRY_AFTER = timedelta(hours=24)


def retry_delay(
    attempt: int, rng: random.Random, retry_after: timedelta | None = None
) -> timedelta | None:
    """The wait before attempt ``attempt + 1`` after attempt ``attempt`` failed; None when
    that was the last attempt."""
    if attempt >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempt - 1] * rng.uniform(*JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (delay seconds or an HTTP date) as a wait from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))
