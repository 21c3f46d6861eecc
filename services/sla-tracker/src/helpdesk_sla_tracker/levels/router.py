"""/v1/levels (SLA levels, named as tickets name them) and /v1/departments/{id}/level (a
department's default level). A level edit adds a version; open clocks are recomputed on it,
closed ones keep what they were measured with."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from helpdesk_service.auth import AdminOnly, AnyRole, Principal
from helpdesk_service.db import Session, get_or_not_found
from helpdesk_service.errors import NotFound, Unprocessable
from helpdesk_service.responses import JsonResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..clocks.service import recompute_open_clocks
from ..models import CURRENT_LEVEL_VERSION, Calendar, DepartmentLevel, Level, LevelVersion
from ..versions import head_and_version, version_out
from .schemas import DepartmentLevelIn, DepartmentLevelOut, LevelIn, LevelOut

router = APIRouter(prefix="/v1", tags=["levels"])

LevelName = Annotated[str, Path(min_length=1, max_length=100)]
_TARGETS = (
    "first_response_minutes",
    "next_response_minutes",
    "chat_response_minutes",
    "call_response_minutes",
)


def _out(level: Level, version: LevelVersion) -> dict[str, Any]:
    return version_out(LevelOut, LevelIn, level, version, name=level.name)


async def _check_level(session: Session, data: LevelIn) -> None:
    if all(getattr(data, target) is None for target in _TARGETS):
        raise Unprocessable(
            "a level needs at least one target: " + ", ".join(_TARGETS),
            details=[{"field": "body", "message": "no target set", "type": "value_error"}],
        )
    if data.calendar_id is not None and await session.get(Calendar, data.calendar_id) is None:
        message = f"calendar {data.calendar_id} does not exist"
        raise Unprocessable(
            f"calendar_id: {message}",
            details=[{"field": "calendar_id", "message": message, "type": "value_error"}],
        )


@router.put(
    "/levels/{name}",
    response_model=LevelOut,
    responses={201: {"model": LevelOut, "description": "The level was created (version 1)"}},
)
async def put_level(
    name: LevelName, data: LevelIn, request: Request, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """Create the level (201) or give it a new version (200)."""
    await _check_level(session, data)
    now = request.app.state.clock.now()
    level = await session.scalar(select(Level).where(Level.name == name).with_for_update())
    created = level is None
    if level is None:
        level = Level(name=name, version=1, created_at=now, updated_at=now)
        session.add(level)
        await session.flush()
    else:
        level.version += 1
        level.updated_at = now
    version = LevelVersion(
        level_name=name, version=level.version, created_at=now, **data.model_dump()
    )
    session.add(version)
    await session.flush()
    if not created:
        await recompute_open_clocks(session, [name], now, f"level {name} version {level.version}")
    await session.commit()
    return JsonResponse(_out(level, version), 201 if created else 200)


@router.get("/levels")
async def list_levels(session: Session, _: Principal = AnyRole) -> JsonResponse:
    rows = await session.execute(
        select(Level, LevelVersion).join(LevelVersion, CURRENT_LEVEL_VERSION).order_by(Level.name)
    )
    return JsonResponse({"items": [_out(level, version) for level, version in rows]})


@router.get("/levels/{name}", response_model=LevelOut)
async def get_level(
    name: LevelName, session: Session, version: int | None = None, _: Principal = AnyRole
) -> JsonResponse:
    """The current version, or ``?version=n``."""
    level, row = await head_and_version(
        session, Level, LevelVersion, name, version, f"level {name!r}"
    )
    return JsonResponse(_out(level, row))


def _department_out(row: DepartmentLevel) -> dict[str, Any]:
    return DepartmentLevelOut(
        department_id=row.department_id, level=row.level_name, updated_at=row.updated_at
    ).model_dump(mode="json")


@router.put("/departments/{department_id}/level", response_model=DepartmentLevelOut)
async def put_department_level(
    department_id: uuid.UUID,
    data: DepartmentLevelIn,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """The level the department's tickets get when no rule or agent set one."""
    if await session.get(Level, data.level) is None:
        message = f"level {data.level!r} does not exist"
        raise Unprocessable(
            f"level: {message}",
            details=[{"field": "level", "message": message, "type": "value_error"}],
        )
    if not await request.app.state.ticket_api.directory_record_exists("departments", department_id):
        raise NotFound(f"department {department_id} does not exist")
    now = request.app.state.clock.now()
    row = await session.get(DepartmentLevel, department_id, with_for_update=True)
    if row is None:
        row = DepartmentLevel(department_id=department_id, level_name=data.level, updated_at=now)
        session.add(row)
    else:
        row.level_name = data.level
        row.updated_at = now
    await session.commit()
    return JsonResponse(_department_out(row))


async def _department_level(session: AsyncSession, department_id: uuid.UUID) -> DepartmentLevel:
    return await get_or_not_found(
        session, DepartmentLevel, department_id, f"department {department_id} has no default level"
    )


@router.get("/departments/{department_id}/level", response_model=DepartmentLevelOut)
async def get_department_level(
    department_id: uuid.UUID, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    row = await _department_level(session, department_id)
    return JsonResponse(_department_out(row))


@router.delete("/departments/{department_id}/level", status_code=204)
async def delete_department_level(
    department_id: uuid.UUID, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    row = await _department_level(session, department_id)
    await session.delete(row)
    await session.commit()
    return JsonResponse(None, 204)
