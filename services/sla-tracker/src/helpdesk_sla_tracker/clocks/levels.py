"""A level version with its calendar, ready for the arithmetic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ..calendars.business_time import (
    BusinessCalendar,
    YearlyHoliday,
    always_open,
    business_calendar,
)
from ..calendars.schemas import CalendarIn, opening_intervals
from ..models import Calendar, CalendarVersion, DepartmentLevel, Level, LevelVersion

_ALWAYS_OPEN = always_open()
# Calendar versions never change once written, so their arithmetic is kept for good.
_CALENDARS: dict[tuple[uuid.UUID, int], BusinessCalendar] = {}


@dataclass(frozen=True)
class ResolvedLevel:
    name: str
    version: int
    targets: dict[str, int | None]
    calendar_id: uuid.UUID | None
    calendar_version: int | None
    calendar: BusinessCalendar
    warning_minutes: int | None


def _business_calendar(row: CalendarVersion) -> BusinessCalendar:
    key = (row.calendar_id, row.version)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        data = CalendarIn.model_validate(
            {
                "name": row.name,
                "time_zone": row.time_zone,
                "hours": row.hours,
                "holidays": row.holidays,
                "yearly_holidays": row.yearly_holidays,
            }
        )
        calendar = business_calendar(
            data.time_zone,
            opening_intervals(data.hours),
            [holiday.date for holiday in data.holidays],
            [YearlyHoliday(holiday.month, holiday.day) for holiday in data.yearly_holidays],
        )
        _CALENDARS[key] = calendar
    return calendar


async def resolve_level(
    session: AsyncSession,
    name: str,
    *,
    level_version: int | None = None,
    calendar_version: int | None = None,
) -> ResolvedLevel | None:
    """The level's current version with its calendar's current version, or the versions
    given (a clock's); None if there is no such level."""
    if level_version is None:
        level = await session.get(Level, name)
        if level is None:
            return None
        level_version = level.version
    row = await session.get(LevelVersion, (name, level_version))
    if row is None:
        return None
    calendar = _ALWAYS_OPEN
    if row.calendar_id is not None:
        if calendar_version is None:
            head = await session.get(Calendar, row.calendar_id)
            assert head is not None, "a level names an existing calendar"
            calendar_version = head.version
        version_row = await session.get(CalendarVersion, (row.calendar_id, calendar_version))
        assert version_row is not None, "a level's calendar has the version a clock names"
        calendar = _business_calendar(version_row)
        if not row.exclude_holidays:
            calendar = calendar.ignoring_holidays
    else:
        calendar_version = None
    return ResolvedLevel(
        name=name,
        version=row.version,
        targets={
            "first_response": row.first_response_minutes,
            "next_response": row.next_response_minutes,
            "chat_response": row.chat_response_minutes,
            "call_response": row.call_response_minutes,
        },
        calendar_id=row.calendar_id,
        calendar_version=calendar_version,
        calendar=calendar,
        warning_minutes=row.warning_minutes,
    )


async def department_level(session: AsyncSession, department_id: uuid.UUID | None) -> str | None:
    if department_id is None:
        return None
    row = await session.get(DepartmentLevel, department_id)
    return row.level_name if row else None
