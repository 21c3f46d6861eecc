"""/v1/calendars: business-hours calendars. An edit adds a version; earlier versions stay
readable, since clocks name the version they were computed with."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from helpdesk_service.auth import AdminOnly, AnyRole, Principal
from helpdesk_service.db import Session
from helpdesk_service.errors import NotFound, Unprocessable, field_errors
from helpdesk_service.responses import JsonResponse
from pydantic import ValidationError
from sqlalchemy import select

from ..clocks.service import recompute_open_clocks
from ..models import (
    CURRENT_CALENDAR_VERSION,
    CURRENT_LEVEL_VERSION,
    Calendar,
    CalendarVersion,
    Level,
    LevelVersion,
)
from ..versions import head_and_version, version_out
from .holiday_import import UnknownCountryError, public_holidays
from .schemas import CalendarIn, CalendarOut, HolidayImport, calendar_problems

router = APIRouter(prefix="/v1", tags=["calendars"])


def _checked(data: CalendarIn) -> None:
    problems = calendar_problems(data)
    if problems:
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        raise Unprocessable(message, details=problems)


def _out(calendar: Calendar, version: CalendarVersion) -> dict[str, Any]:
    return version_out(CalendarOut, CalendarIn, calendar, version, id=calendar.id)


def _version_row(
    calendar_id: uuid.UUID, version: int, data: CalendarIn, now: datetime
) -> CalendarVersion:
    dumped = data.model_dump(mode="json")
    return CalendarVersion(
        calendar_id=calendar_id,
        version=version,
        name=data.name,
        time_zone=data.time_zone,
        hours=dumped["hours"],
        holidays=dumped["holidays"],
        yearly_holidays=dumped["yearly_holidays"],
        created_at=now,
    )


async def _locked(session: Session, calendar_id: uuid.UUID) -> Calendar:
    calendar = await session.scalar(
        select(Calendar).where(Calendar.id == calendar_id).with_for_update()
    )
    if calendar is None:
        raise NotFound(f"calendar {calendar_id} does not exist")
    return calendar


async def _current(session: Session, calendar: Calendar) -> CalendarVersion:
    version = await session.get(CalendarVersion, (calendar.id, calendar.version))
    assert version is not None, "a calendar's head names an existing version"
    return version


async def _commit_new_version(
    session: Session, calendar: Calendar, data: CalendarIn, now: datetime
) -> JsonResponse:
    """Commit ``data`` as the calendar's new version, with the open clocks on it recomputed;
    the answer showing it."""
    calendar.version += 1
    calendar.name = data.name
    calendar.updated_at = now
    version = _version_row(calendar.id, calendar.version, data, now)
    session.add(version)
    await session.flush()
    # Open clocks on levels that count in this calendar move to the new version.
    levels = await session.scalars(
        select(Level.name)
        .join(LevelVersion, CURRENT_LEVEL_VERSION)
        .where(LevelVersion.calendar_id == calendar.id)
    )
    reason = f"calendar {calendar.id} version {calendar.version}"
    await recompute_open_clocks(session, list(levels), now, reason)
    await session.commit()
    return JsonResponse(_out(calendar, version))


@router.post("/calendars", status_code=201, response_model=CalendarOut)
async def create_calendar(
    data: CalendarIn, request: Request, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    _checked(data)
    now = request.app.state.clock.now()
    calendar = Calendar(id=uuid.uuid4(), name=data.name, version=1, created_at=now, updated_at=now)
    session.add(calendar)
    await session.flush()
    version = _version_row(calendar.id, 1, data, now)
    session.add(version)
    await session.commit()
    return JsonResponse(_out(calendar, version), 201)


@router.get("/calendars")
async def list_calendars(session: Session, _: Principal = AnyRole) -> JsonResponse:
    rows = await session.execute(
        select(Calendar, CalendarVersion)
        .join(CalendarVersion, CURRENT_CALENDAR_VERSION)
        .order_by(Calendar.name, Calendar.id)
    )
    return JsonResponse({"items": [_out(calendar, version) for calendar, version in rows]})


@router.get("/calendars/{calendar_id}", response_model=CalendarOut)
async def get_calendar(
    calendar_id: uuid.UUID, session: Session, version: int | None = None, _: Principal = AnyRole
) -> JsonResponse:
    """The current version, or ``?version=n``."""
    calendar, row = await head_and_version(
        session, Calendar, CalendarVersion, calendar_id, version, f"calendar {calendar_id}"
    )
    return JsonResponse(_out(calendar, row))


@router.put("/calendars/{calendar_id}", response_model=CalendarOut)
async def replace_calendar(
    calendar_id: uuid.UUID,
    data: CalendarIn,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """Replace the calendar: a new version; open clocks are recomputed on it."""
    _checked(data)
    calendar = await _locked(session, calendar_id)
    return await _commit_new_version(session, calendar, data, request.app.state.clock.now())


@router.post("/calendars/{calendar_id}/holidays/import", response_model=CalendarOut)
async def import_holidays(
    calendar_id: uuid.UUID,
    data: HolidayImport,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """Add a country's public holidays for ``years`` as one-off holidays (a new version);
    dates the calendar already has keep their name."""
    try:
        found = public_holidays(data.country, data.years, data.subdivision)
    except UnknownCountryError as error:
        field = "subdivision" if data.subdivision else "country"
        raise Unprocessable(
            f"{field}: {error}",
            details=[{"field": field, "message": str(error), "type": "value_error"}],
        ) from error
    calendar = await _locked(session, calendar_id)
    current = await _current(session, calendar)
    known = {holiday["date"] for holiday in current.holidays}
    added = [
        {"date": holiday.day.isoformat(), "name": holiday.name}
        for holiday in found
        if holiday.day.isoformat() not in known
    ]
    try:
        data_in = CalendarIn.model_validate(
            {
                "name": current.name,
                "time_zone": current.time_zone,
                "hours": current.hours,
                "holidays": sorted([*current.holidays, *added], key=lambda h: str(h["date"])),
                "yearly_holidays": current.yearly_holidays,
            }
        )
    except ValidationError as error:
        # Only the holiday list can grow past its limit here.
        raise field_errors(error.errors()) from error
    return await _commit_new_version(session, calendar, data_in, request.app.state.clock.now())
