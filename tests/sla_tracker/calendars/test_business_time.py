"""Business-time arithmetic: worked examples (the seed, DST, night shifts, holidays, year
ends) and properties checked by hypothesis against a plain day-by-day reference."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpdesk_sla_tracker.calendars.business_time import (
    BusinessCalendar,
    NoOpenTimeError,
    OpeningInterval,
    YearlyHoliday,
    add_business_minutes,
    always_open,
    business_calendar,
    business_minutes_between,
    is_open,
)
from helpdesk_sla_tracker.calendars.holiday_import import (
    UnknownCountryError,
    public_holidays,
)
from hypothesis import given, settings
from hypothesis import strategies as st

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def office_hours(
    zone: str = "Europe/Berlin",
    holidays: Iterable[date] = (),
    yearly_holidays: Iterable[YearlyHoliday] = (),
) -> BusinessCalendar:
    """Monday to Friday, 09:00-17:00."""
    return business_calendar(
        zone,
        [OpeningInterval(weekday, 9 * 60, 17 * 60) for weekday in range(5)],
        holidays,
        yearly_holidays,
    )


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


# --- the seed example --------------------------------------------------------------------


def test_seed_friday_afternoon_is_due_monday_noon() -> None:
    friday = local(BERLIN, 2026, 12, 4, 16)  # a Friday
    due = add_business_minutes(friday, 4 * 60, office_hours())
    assert due == local(BERLIN, 2026, 12, 7, 12)
    assert business_minutes_between(friday, due, office_hours()) == 240


def test_seed_with_the_monday_a_holiday_is_due_tuesday_noon() -> None:
    calendar = office_hours(holidays=[date(2026, 12, 7)])
    friday = local(BERLIN, 2026, 12, 4, 16)
    assert add_business_minutes(friday, 240, calendar) == local(BERLIN, 2026, 12, 8, 12)
    # A level that does not exclude holidays works through it.
    assert add_business_minutes(friday, 240, calendar.ignoring_holidays) == local(
        BERLIN, 2026, 12, 7, 12
    )


def test_time_running_out_at_closing_time_is_due_at_closing_time() -> None:
    friday = local(BERLIN, 2026, 12, 4, 16)
    assert add_business_minutes(friday, 60, office_hours()) == local(BERLIN, 2026, 12, 4, 17)


def test_a_start_in_closed_time_counts_from_the_next_opening() -> None:
    saturday = local(BERLIN, 2026, 12, 5, 11, 30)
    assert add_business_minutes(saturday, 30, office_hours()) == local(BERLIN, 2026, 12, 7, 9, 30)
    assert business_minutes_between(saturday, local(BERLIN, 2026, 12, 7, 10), office_hours()) == 60


def test_zero_minutes_is_the_start_and_negative_minutes_are_refused() -> None:
    start = local(BERLIN, 2026, 12, 5, 11, 30)
    assert add_business_minutes(start, 0, office_hours()) == start
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(start, -1, office_hours())


def test_between_is_negative_when_the_end_is_earlier() -> None:
    monday_10 = local(BERLIN, 2026, 12, 7, 10)
    friday_16 = local(BERLIN, 2026, 12, 4, 16)
    assert business_minutes_between(monday_10, friday_16, office_hours()) == -120


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(datetime(2026, 12, 4, 16), 10, office_hours())


# --- split shifts, night shifts, weekends ---------------------------------------------------


def test_split_shift_skips_the_lunch_break() -> None:
    calendar = business_calendar(
        "Europe/Berlin",
        [OpeningInterval(0, 8 * 60, 12 * 60), OpeningInterval(0, 13 * 60, 17 * 60)],
    )
    monday_11 = local(BERLIN, 2026, 12, 7, 11)
    assert add_business_minutes(monday_11, 90, calendar) == local(BERLIN, 2026, 12, 7, 13, 30)
    assert is_open(local(BERLIN, 2026, 12, 7, 12), calendar)  # closing instant
    assert not is_open(local(BERLIN, 2026, 12, 7, 12, 30), calendar)


def test_night_shift_past_midnight_belongs_to_the_day_it_starts() -> None:
    # Friday 22:00 to Saturday 06:00 only.
    calendar = business_calendar(
        "Europe/Berlin",
        [OpeningInterval(4, 22 * 60, 30 * 60)],
        holidays=[date(2026, 12, 11)],  # the next Friday
    )
    friday_23 = local(BERLIN, 2026, 12, 4, 23)
    assert add_business_minutes(friday_23, 6 * 60, calendar) == local(BERLIN, 2026, 12, 5, 5)
    # Two more hours: past Saturday 06:00, the next Friday's shift is a holiday, so the
    # Friday after that.
    assert add_business_minutes(friday_23, 9 * 60, calendar) == local(BERLIN, 2026, 12, 19, 0)


def test_sunday_night_shift_wraps_into_monday() -> None:
    calendar = business_calendar("UTC", [OpeningInterval(6, 20 * 60, 28 * 60)])
    sunday = datetime(2026, 12, 6, 21, tzinfo=UTC)
    assert add_business_minutes(sunday, 6 * 60, calendar) == datetime(2026, 12, 7, 3, tzinfo=UTC)


# --- DST ---------------------------------------------------------------------------------------


def test_spring_forward_night_is_an_hour_shorter() -> None:
    # Berlin skips 02:00-03:00 on Sunday 2026-03-29.
    calendar = business_calendar("Europe/Berlin", [OpeningInterval(6, 0, 6 * 60)])
    sunday = local(BERLIN, 2026, 3, 29)
    assert business_minutes_between(sunday, local(BERLIN, 2026, 3, 29, 6), calendar) == 5 * 60
    assert add_business_minutes(sunday, 150, calendar) == local(BERLIN, 2026, 3, 29, 3, 30)


def test_fall_back_night_is_an_hour_longer() -> None:
    # Berlin repeats 02:00-03:00 on Sunday 2026-10-25.
    calendar = business_calendar("Europe/Berlin", [OpeningInterval(6, 0, 6 * 60)])
    sunday = local(BERLIN, 2026, 10, 25)
    assert business_minutes_between(sunday, local(BERLIN, 2026, 10, 25, 6), calendar) == 7 * 60


def test_office_hours_keep_their_wall_clock_across_dst() -> None:
    # New York moves to daylight time on Sunday 2026-03-08; Friday 16:00 EST + 4 h is
    # Monday 12:00 EDT, five hours of UTC later than without the change.
    calendar = office_hours("America/New_York")
    due = add_business_minutes(local(NEW_YORK, 2026, 3, 6, 16), 240, calendar)
    assert due == local(NEW_YORK, 2026, 3, 9, 12)
    assert due.utcoffset() == timedelta(0)
    assert due == datetime(2026, 3, 9, 16, tzinfo=UTC)


def test_always_open_counts_real_time_across_dst() -> None:
    start = local(BERLIN, 2026, 3, 28, 12)
    end = local(BERLIN, 2026, 3, 29, 12)
    assert business_minutes_between(start, end, always_open()) == 23 * 60


# --- holidays and year ends ----------------------------------------------------------------


def test_yearly_holiday_across_the_year_end() -> None:
    calendar = office_hours(yearly_holidays=[YearlyHoliday(1, 1), YearlyHoliday(12, 31)])
    wednesday = local(BERLIN, 2026, 12, 30, 16)
    # Thursday 31 and Friday 1 are holidays, then the weekend.
    assert add_business_minutes(wednesday, 240, calendar) == local(BERLIN, 2027, 1, 4, 12)
    assert business_minutes_between(wednesday, local(BERLIN, 2027, 1, 4, 12), calendar) == 240


def test_yearly_29_february_only_closes_leap_years() -> None:
    calendar = business_calendar(
        "UTC",
        [OpeningInterval(weekday, 0, 24 * 60) for weekday in range(7)],
        yearly_holidays=[YearlyHoliday(2, 29)],
    )
    feb_28 = datetime(2028, 2, 28, tzinfo=UTC)
    assert business_minutes_between(feb_28, feb_28 + timedelta(days=3), calendar) == 2 * 24 * 60
    feb_28 = datetime(2027, 2, 28, tzinfo=UTC)
    assert business_minutes_between(feb_28, feb_28 + timedelta(days=3), calendar) == 3 * 24 * 60


def test_a_calendar_closed_every_day_raises_instead_of_looping() -> None:
    calendar = business_calendar(
        "UTC",
        [OpeningInterval(0, 9 * 60, 17 * 60)],
        yearly_holidays=[
            YearlyHoliday(month, day)
            for month in range(1, 13)
            for day in range(1, 32)
            if not (month == 2 and day > 29) and not (month in (4, 6, 9, 11) and day == 31)
        ],
    )
    with pytest.raises(NoOpenTimeError):
        add_business_minutes(datetime(2026, 1, 1, tzinfo=UTC), 1, calendar)


@pytest.mark.parametrize(("closed_mondays", "reachable"), [(159, True), (160, False)])
def test_the_search_gives_up_after_three_years_of_closed_weeks_in_a_row(
    closed_mondays: int, reachable: bool
) -> None:
    """Open on Mondays only; after the first, ``closed_mondays`` are holidays. The search
    looks through 3 * 53 = 159 closed weeks in a row — counted from the last week with open
    time, not from the start — and finds the Monday after them; one more, and it gives up."""
    first = datetime(2026, 1, 5, 9, tzinfo=UTC)
    calendar = business_calendar(
        "UTC",
        [OpeningInterval(0, 9 * 60, 17 * 60)],
        holidays=[(first + timedelta(weeks=n)).date() for n in range(1, closed_mondays + 1)],
    )
    # The first Monday's eight hours, then one minute of the next open Monday.
    if reachable:
        due = add_business_minutes(first, 8 * 60 + 1, calendar)
        assert due == first + timedelta(weeks=closed_mondays + 1, minutes=1)
    else:
        with pytest.raises(NoOpenTimeError):
            add_business_minutes(first, 8 * 60 + 1, calendar)


def test_public_holidays_of_a_country() -> None:
    found = public_holidays("de", [2026], subdivision="BY")
    assert (date(2026, 12, 25), "Christmas Day") in [(h.day, h.name) for h in found]
    assert date(2026, 1, 6) in [h.day for h in found]  # Epiphany, Bavaria only
    assert [h.day for h in found] == sorted(h.day for h in found)
    with pytest.raises(UnknownCountryError, match="'XX'"):
        public_holidays("XX", [2026])
    with pytest.raises(UnknownCountryError):
        public_holidays("DE", [2026], subdivision="nowhere")


# --- properties ------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Random weekly hours (split and night shifts, never overlapping) and holidays."""
    intervals = []
    for weekday in range(7):
        cursor = draw(st.integers(0, 20 * 60))
        for _ in range(draw(st.integers(0, 3))):
            start = cursor + draw(st.integers(0, 6 * 60))
            end = start + draw(st.integers(1, 10 * 60))
            if end > 24 * 60 + 6 * 60 or start >= 24 * 60:
                break
            intervals.append(OpeningInterval(weekday, start, end))
            cursor = end + 1
    if not intervals:
        intervals.append(OpeningInterval(draw(st.integers(0, 6)), 9 * 60, 17 * 60))
    # Intervals spilling past midnight must not run into the next day's first interval.
    by_day: dict[int, list[OpeningInterval]] = {}
    for interval in intervals:
        by_day.setdefault(interval.weekday, []).append(interval)
    kept = []
    for interval in intervals:
        next_day = by_day.get((interval.weekday + 1) % 7, [])
        first_next = min((i.start_minute for i in next_day), default=24 * 60)
        if interval.end_minute - 24 * 60 <= first_next:
            kept.append(interval)
    if not kept:
        kept.append(OpeningInterval(0, 9 * 60, 17 * 60))
    holidays = draw(st.lists(st.dates(date(2025, 12, 1), date(2031, 1, 31)), max_size=30))
    yearly = draw(
        st.lists(st.builds(YearlyHoliday, st.integers(1, 12), st.integers(1, 28)), max_size=5)
    )
    return business_calendar(draw(st.sampled_from(ZONES)), kept, holidays, yearly)


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def reference_open_intervals(
    calendar: BusinessCalendar, start: datetime, days: int
) -> list[tuple[datetime, datetime]]:
    """Open intervals day by day from just before ``start``, merged: the slow, plain way."""
    first_day = start.astimezone(calendar.zone).date() - timedelta(days=2)
    pieces = sorted(
        piece
        for offset in range(days + 3)
        for piece in calendar.open_intervals(first_day + timedelta(days=offset))
    )
    merged: list[tuple[datetime, datetime]] = []
    for begin, end in pieces:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def reference_add(calendar: BusinessCalendar, start: datetime, minutes: int) -> datetime:
    remaining = timedelta(minutes=minutes)
    # Long enough for the calendar's weekly hours to hold the minutes twice over (yearly
    # holidays take at most five days a year) plus a week for each of its dated holidays:
    # a calendar open one minute a week needs years.
    weekly = sum(i.end_minute - i.start_minute for i in calendar.intervals)
    days = 14 * (math.ceil(minutes / weekly) + 1) + 7 * len(calendar.holidays)
    for begin, end in reference_open_intervals(calendar, start, days):
        if end <= start:
            continue
        begin = max(begin, start)
        if end - begin >= remaining:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("no open time in the reference horizon")


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), start=instants, minutes=st.integers(1, 20_000))
def test_adding_matches_the_reference_and_lands_in_open_time(
    calendar: BusinessCalendar, start: datetime, minutes: int
) -> None:
    due = add_business_minutes(start, minutes, calendar)
    assert due == reference_add(calendar, start, minutes)
    assert is_open(due, calendar)
    assert due > start


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), start=instants, minutes=st.integers(0, 20_000))
def test_adding_then_measuring_round_trips(
    calendar: BusinessCalendar, start: datetime, minutes: int
) -> None:
    due = add_business_minutes(start, minutes, calendar)
    assert business_minutes_between(start, due, calendar) == minutes


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), start=instants, span=st.timedeltas(timedelta(0), timedelta(days=60)))
def test_measuring_then_adding_reaches_the_last_open_instant(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    end = start + span
    minutes = business_minutes_between(start, end, calendar)
    assert minutes >= 0
    if minutes == 0:
        return
    reached = add_business_minutes(start, minutes, calendar)
    assert reached <= end
    assert business_minutes_between(reached, end, calendar) == 0
    if is_open(end - timedelta(microseconds=1), calendar):
        assert reached == end
