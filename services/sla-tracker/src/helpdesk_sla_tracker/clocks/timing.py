"""A clock's due instant and elapsed business time, from its history alone (pure).

A clock runs from ``started_at`` except during its pauses (closed ones, and ``paused_since``
while it waits). Everything is recomputed from that history and the level's target and
calendar, so a new level or calendar version gives the same answer whoever recomputes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..calendars.business_time import (
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
)

Pause = tuple[datetime, datetime]


def _running_segments(
    started_at: datetime, pauses: Sequence[Pause], paused_since: datetime | None
) -> tuple[list[Pause], datetime | None]:
    """The closed running segments, and the start of the open one (None while paused)."""
    segments: list[Pause] = []
    cursor = started_at
    for pause_start, pause_end in pauses:
        segments.append((cursor, pause_start))
        cursor = pause_end
    if paused_since is not None:
        segments.append((cursor, paused_since))
        return segments, None
    return segments, cursor


def due_at(
    started_at: datetime,
    pauses: Sequence[Pause],
    paused_since: datetime | None,
    target_minutes: int,
    calendar: BusinessCalendar,
) -> datetime | None:
    """When ``target_minutes`` of running business time are used up; None while paused
    with time left. A due instant already passed (a shorter target) is found in the past."""
    segments, running_since = _running_segments(started_at, pauses, paused_since)
    remaining = float(target_minutes)
    for start, end in segments:
        used = business_minutes_between(start, end, calendar)
        if used >= remaining:
            return add_business_minutes(start, remaining, calendar)
        remaining -= used
    if running_since is None:
        return None
    return add_business_minutes(running_since, remaining, calendar)


def elapsed_minutes(
    started_at: datetime,
    pauses: Sequence[Pause],
    paused_since: datetime | None,
    until: datetime,
    calendar: BusinessCalendar,
) -> float:
    """Running business minutes from ``started_at`` to ``until``."""
    segments, running_since = _running_segments(started_at, pauses, paused_since)
    if running_since is not None:
        segments.append((running_since, until))
    return sum(
        business_minutes_between(start, min(end, until), calendar)
        for start, end in segments
        if start < until
    )
