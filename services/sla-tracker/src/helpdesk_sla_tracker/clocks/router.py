"""/v1/tickets/{id}/clocks: a ticket's response clocks with the level and calendar versions
each was computed with, and every recomputation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from helpdesk_service.auth import AnyRole, Principal
from helpdesk_service.db import Session
from helpdesk_service.responses import JsonResponse
from sqlalchemy import select

from ..models import Clock
from .service import describe

router = APIRouter(prefix="/v1", tags=["clocks"])


@router.get("/tickets/{ticket_id}/clocks")
async def ticket_clocks(
    ticket_id: uuid.UUID, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    """Oldest first; a ticket the tracker never saw has none."""
    clocks = await session.scalars(
        select(Clock).where(Clock.ticket_id == ticket_id).order_by(Clock.started_at, Clock.id)
    )
    return JsonResponse({"items": [describe(clock) for clock in clocks]})
