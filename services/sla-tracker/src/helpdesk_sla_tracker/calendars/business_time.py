"""Business-time arithmetic: due dates and elapsed business time, as pure functions.

A calendar is an IANA time zone, weekly opening intervals in local wall-clock time and
holidays. An interval may end after midnight (a night shift); it belongs to the day it
starts on, so a holiday closes the shifts that start on that date. Business time is real
elapsed time inside the open intervals: a 01:00-05:00 shift on the night the clocks go
forward is three hours long.

Speed: the open intervals are laid out once per UTC week as epoch microseconds with running
totals (``_WeekTable``) and cached on the calendar; a due date is then a dictionary lookup
and two bisections per week crossed, with no time-zone conversion at all.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
MINUTE_US = 60_000_000
_DAY_US = 24 * 60 * MINUTE_US
_WEEK_US = 7 * _DAY_US
# 1970-01-05 was a Monday: UTC weeks are counted from there.
_WEEKS_BASE_US = 4 * _DAY_US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# A calendar whose holidays close every day for this long has no open time to give.
_MAX_EMPTY_WEEKS = 3 * 53
# Cached weeks per calendar; clocks cluster around "now", so this is rarely reached.
_MAX_CACHED_WEEKS = 4096


class NoOpenTimeError(ValueError):
    """The calendar has no open time within the search horizon."""


@dataclass(frozen=True, slots=True)
class OpeningInterval:
    """Open from ``start_minute`` to ``end_minute`` after the local midnight of ``weekday``.

    ``weekday`` is 0 for Monday. ``end_minute`` is above 1440 for an interval that runs
    past midnight (at most 2880: up to midnight of the next day).
    """

    weekday: int
    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class YearlyHoliday:
    month: int
    day: int


@dataclass(slots=True)
class _WeekTable:
    """Open intervals of one UTC week, clipped to it, sorted and merged.

    ``totals[i]`` is the open time from the week's start to the end of interval ``i``.
    """

    starts: list[int]
    ends: list[int]
    totals: list[int]

    @property
    def open_us(self) -> int:
        return self.totals[-1] if self.totals else 0

    def position(self, instant_us: int) -> int:
        """Open time from the week's start up to ``instant_us`` (within the week)."""
        i = bisect.bisect_right(self.ends, instant_us)
        if i == len(self.ends):
            return self.open_us
        before = self.totals[i] - (self.ends[i] - self.starts[i])
        if instant_us > self.starts[i]:
            return before + instant_us - self.starts[i]
        return before

    def instant_at(self, position_us: int) -> int:
        """The earliest instant at which ``position_us`` of open time has passed (> 0)."""
        i = bisect.bisect_left(self.totals, position_us)
        return self.ends[i] - (self.totals[i] - position_us)


@dataclass(frozen=True, eq=False)
class BusinessCalendar:
    """A time zone, weekly opening intervals and holidays.

    Build it through ``business_calendar`` (validated input); ``always_open`` is 24/7.
    ``exclude_holidays=False`` gives a calendar that ignores its holidays (a level's choice).
    """

    zone: ZoneInfo
    intervals: tuple[OpeningInterval, ...]
    holidays: frozenset[date] = frozenset()
    yearly_holidays: frozenset[YearlyHoliday] = frozenset()
    _weeks: dict[int, _WeekTable] = field(default_factory=dict, repr=False)
    _by_weekday: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_weekday = tuple(
            tuple(
                sorted(
                    (interval.start_minute, interval.end_minute)
                    for interval in self.intervals
                    if interval.weekday == weekday
                )
            )
            for weekday in range(7)
        )
        object.__setattr__(self, "_by_weekday", by_weekday)

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or YearlyHoliday(day.month, day.day) in self.yearly_holidays

    @cached_property
    def ignoring_holidays(self) -> BusinessCalendar:
        """The same hours with every day a working day (one instance, so its cache is kept)."""
        return BusinessCalendar(zone=self.zone, intervals=self.intervals)

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals that start on local date ``day``, as aware UTC datetimes."""
        if self.is_holiday(day):
            return []
        midnight = datetime.combine(day, time())
        opened = []
        for start_minute, end_minute in self._by_weekday[day.weekday()]:
            start = (midnight + timedelta(minutes=start_minute)).replace(tzinfo=self.zone)
            end = (midnight + timedelta(minutes=end_minute)).replace(tzinfo=self.zone)
            start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
            # A short interval inside the hour the clocks skip can come out empty.
            if end_utc > start_utc:
                opened.append((start_utc, end_utc))
        return opened

    def _week(self, week: int) -> _WeekTable:
        table = self._weeks.get(week)
        if table is None:
            if len(self._weeks) >= _MAX_CACHED_WEEKS:
                self._weeks.clear()
            table = self._build_week(week)
            self._weeks[week] = table
        return table

    def _build_week(self, week: int) -> _WeekTable:
        week_start = _WEEKS_BASE_US + week * _WEEK_US
        week_end = week_start + _WEEK_US
        # Local dates whose shifts can reach into this UTC week: zone offsets are within
        # a day, and a shift lasts at most a day after its local midnight.
        first_day = _to_datetime(week_start).astimezone(self.zone).date() - timedelta(days=2)
        last_day = _to_datetime(week_end).astimezone(self.zone).date() + timedelta(days=1)
        pieces: list[tuple[int, int]] = []
        day = first_day
        while day <= last_day:
            for start, end in self.open_intervals(day):
                start_us = max(_to_us(start), week_start)
                end_us = min(_to_us(end), week_end)
                if end_us > start_us:
                    pieces.append((start_us, end_us))
            day += timedelta(days=1)
        pieces.sort()
        starts: list[int] = []
        ends: list[int] = []
        for start_us, end_us in pieces:
            if ends and start_us <= ends[-1]:
                ends[-1] = max(ends[-1], end_us)
            else:
                starts.append(start_us)
                ends.append(end_us)
        totals: list[int] = []
        running = 0
        for start_us, end_us in zip(starts, ends, strict=True):
            running += end_us - start_us
            totals.append(running)
        return _WeekTable(starts, ends, totals)


def always_open() -> BusinessCalendar:
    """Around the clock, every day (a level without a calendar)."""
    return BusinessCalendar(
        zone=ZoneInfo("UTC"),
        intervals=tuple(OpeningInterval(weekday, 0, MINUTES_PER_DAY) for weekday in range(7)),
    )


def business_calendar(
    zone: str,
    intervals: Iterable[OpeningInterval],
    holidays: Iterable[date] = (),
    yearly_holidays: Iterable[YearlyHoliday] = (),
) -> BusinessCalendar:
    """A calendar from already validated parts (see ``calendars.validation``)."""
    return BusinessCalendar(
        zone=ZoneInfo(zone),
        intervals=tuple(intervals),
        holidays=frozenset(holidays),
        yearly_holidays=frozenset(yearly_holidays),
    )


def add_business_minutes(start: datetime, minutes: float, calendar: BusinessCalendar) -> datetime:
    """The earliest instant at which ``minutes`` of business time have passed since ``start``.

    When the time runs out exactly at a closing time, that closing time is the answer
    (Friday 16:00 plus one hour with 09:00-17:00 hours is Friday 17:00, not Monday 09:00).
    Zero minutes is ``start`` itself. The result is an aware UTC datetime.
    """
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    remaining = round(minutes * MINUTE_US)
    if remaining == 0:
        return start
    instant = _to_us(start)
    week = (instant - _WEEKS_BASE_US) // _WEEK_US
    table = calendar._week(week)
    position = table.position(instant)
    empty_weeks = 0
    while True:
        left_in_week = table.open_us - position
        if remaining <= left_in_week:
            return _to_datetime(table.instant_at(position + remaining))
        remaining -= left_in_week
        empty_weeks = empty_weeks + 1 if table.open_us == 0 else 0
        if empty_weeks > _MAX_EMPTY_WEEKS:
            raise NoOpenTimeError("the calendar has no open time in the coming three years")
        week += 1
        table = calendar._week(week)
        position = 0


def business_minutes_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> float:
    """Business minutes from ``start`` to ``end``; negative when ``end`` is earlier."""
    return business_microseconds_between(start, end, calendar) / MINUTE_US


def business_microseconds_between(
    start: datetime, end: datetime, calendar: BusinessCalendar
) -> int:
    start_us, end_us = _to_us(start), _to_us(end)
    if end_us < start_us:
        return -business_microseconds_between(end, start, calendar)
    first_week = (start_us - _WEEKS_BASE_US) // _WEEK_US
    last_week = (end_us - _WEEKS_BASE_US) // _WEEK_US
    first = calendar._week(first_week)
    if first_week == last_week:
        return first.position(end_us) - first.position(start_us)
    elapsed = first.open_us - first.position(start_us)
    for week in range(first_week + 1, last_week):
        elapsed += calendar._week(week).open_us
    return elapsed + calendar._week(last_week).position(end_us)


def is_open(instant: datetime, calendar: BusinessCalendar) -> bool:
    """Whether ``instant`` lies inside an open interval (its closing instant included)."""
    instant_us = _to_us(instant)
    table = calendar._week((instant_us - _WEEKS_BASE_US) // _WEEK_US)
    i = bisect.bisect_left(table.ends, instant_us)
    if i < len(table.ends) and table.starts[i] <= instant_us:
        return True
    # The week's last closing instant belongs to the previous week's table too.
    previous = calendar._week((instant_us - 1 - _WEEKS_BASE_US) // _WEEK_US)
    return bool(previous.ends) and previous.ends[-1] == instant_us


def _to_us(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return (instant - _EPOCH) // _ONE_US


def _to_datetime(instant_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=instant_us)
