"""The calendar API's shapes, and the checks pydantic cannot express field by field
(overlapping intervals, unknown time zones), reported as field errors."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .business_time import (
    MINUTES_PER_DAY,
    OpeningInterval,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntervalIn(_Strict):
    start: ClockTime = Field(description="local opening time, HH:MM")
    end: ClockTime = Field(description="local closing time, HH:MM; 24:00 is midnight")
    overnight: bool = Field(
        default=False, description="the interval ends on the next day (a night shift)"
    )


class WeeklyHours(_Strict):
    monday: list[IntervalIn] = Field(default=[], max_length=24)
    tuesday: list[IntervalIn] = Field(default=[], max_length=24)
    wednesday: list[IntervalIn] = Field(default=[], max_length=24)
    thursday: list[IntervalIn] = Field(default=[], max_length=24)
    friday: list[IntervalIn] = Field(default=[], max_length=24)
    saturday: list[IntervalIn] = Field(default=[], max_length=24)
    sunday: list[IntervalIn] = Field(default=[], max_length=24)


class HolidayIn(_Strict):
    date: dt.date
    name: str = Field(default="", max_length=200)


class YearlyHolidayIn(_Strict):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    name: str = Field(default="", max_length=200)


class CalendarIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    time_zone: str = Field(min_length=1, max_length=100, description="IANA time zone")
    hours: WeeklyHours
    holidays: list[HolidayIn] = Field(default=[], max_length=2000)
    yearly_holidays: list[YearlyHolidayIn] = Field(default=[], max_length=366)


class CalendarOut(CalendarIn):
    id: uuid.UUID
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class HolidayImport(_Strict):
    country: str = Field(min_length=2, max_length=3, description="ISO 3166-1 code, e.g. DE")
    subdivision: str | None = Field(default=None, max_length=10, description="e.g. BY")
    years: list[Annotated[int, Field(ge=1970, le=2100)]] = Field(min_length=1, max_length=20)


def _minutes(clock_time: str) -> int:
    hours, minutes = clock_time.split(":")
    return int(hours) * 60 + int(minutes)


def opening_intervals(hours: WeeklyHours) -> list[OpeningInterval]:
    intervals = []
    for weekday, name in enumerate(WEEKDAYS):
        for interval in getattr(hours, name):
            start, end = _minutes(interval.start), _minutes(interval.end)
            if interval.overnight:
                end += MINUTES_PER_DAY
            intervals.append(OpeningInterval(weekday, start, end))
    return intervals


def calendar_problems(data: CalendarIn) -> list[dict[str, str]]:
    """What is wrong with a calendar that passed field validation, each with its field."""
    problems: list[dict[str, str]] = []

    def problem(field: str, message: str) -> None:
        problems.append({"field": field, "message": message, "type": "value_error"})

    try:
        ZoneInfo(data.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problem("time_zone", f"{data.time_zone!r} is not an IANA time zone (e.g. Europe/Berlin)")
    # Every interval on one axis of week minutes, so night shifts meet the next day's hours
    # and Sunday's night shift meets Monday's.
    placed: list[tuple[int, int, str, str]] = []
    for weekday, name in enumerate(WEEKDAYS):
        for index, interval in enumerate(getattr(data.hours, name)):
            field = f"hours.{name}[{index}]"
            start, end = _minutes(interval.start), _minutes(interval.end)
            if interval.overnight:
                if end > start:
                    problem(
                        f"{field}.end",
                        f"an overnight interval ends the next day no later than it started "
                        f"({interval.end} after {interval.start} is more than a day)",
                    )
                    continue
                end += MINUTES_PER_DAY
            elif end <= start:
                problem(
                    f"{field}.end",
                    f"ends at {interval.end}, not after its start {interval.start}; "
                    "set overnight: true for an interval past midnight",
                )
                continue
            label = f"{interval.start}-{interval.end}"
            offset = weekday * MINUTES_PER_DAY
            placed.append((offset + start, offset + end, field, label))
    week = 7 * MINUTES_PER_DAY
    for position, (start, end, field, label) in enumerate(placed):
        for other_start, other_end, other_field, other_label in placed[:position]:
            for shift in (-week, 0, week):
                if start < other_end + shift and other_start + shift < end:
                    problem(field, f"{label} overlaps {other_field} ({other_label})")
                    break
    if not placed and not problems:
        problem("hours", "a calendar needs at least one opening interval")
    for index, yearly in enumerate(data.yearly_holidays):
        try:
            dt.date(2024, yearly.month, yearly.day)  # a leap year: 29 February is a day
        except ValueError:
            field = f"yearly_holidays[{index}].day"
            problem(field, f"month {yearly.month} has no day {yearly.day}")
    return problems
