"""Preview and time travel: what a rule would act on at an instant, and a tick run for a
given instant (tests and the end-to-end suite never wait for real time)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from helpdesk_service.auth import AdminOnly, AnyRole, Principal
from helpdesk_service.responses import JsonResponse
from pydantic import AwareDatetime

from ..rules.router import get_time_rule
from ..sessions import Session
from .tick import Scheduler, SearchFailed

router = APIRouter(prefix="/v1", tags=["ticks"])


async def _instant(
    request: Request,
    at: Annotated[
        AwareDatetime | None,
        Query(description="the instant to evaluate at (ISO 8601 with offset); default now"),
    ] = None,
) -> datetime:
    return at or request.app.state.clock.now()


# The instant a preview or a tick is for: the ``at`` query parameter, default now.
Instant = Annotated[datetime, Depends(_instant)]


@router.post(
    "/time-rules/{rule_id}/preview",
    responses={
        SearchFailed.status_code: {
            "description": "ticket-api refused the rule's search or could not be reached "
            "(code search_failed)."
        }
    },
)
async def preview_time_rule(
    rule_id: uuid.UUID,
    request: Request,
    session: Session,
    instant: Instant,
    _: Principal = AnyRole,
) -> JsonResponse:
    """The tickets the rule would act on at ``at``, without acting, each with the reason
    (which time condition, and how long ago). A tick run for the same instant acts on
    exactly these (the rule's active flag aside: an inactive rule can be previewed)."""
    rule = await get_time_rule(session, rule_id)
    await session.commit()
    scheduler: Scheduler = request.app.state.scheduler
    custom_fields = await scheduler.custom_fields_for(rule.conditions) or []
    items = [
        due.out() async for page in scheduler.due(rule, instant, custom_fields) for due in page
    ]
    return JsonResponse({"rule_id": str(rule.id), "at": instant.isoformat(), "items": items})


@router.post(
    "/ticks",
    responses={409: {"description": "Another scheduler is running a tick (code tick_running)."}},
)
async def run_tick(request: Request, instant: Instant, _: Principal = AdminOnly) -> JsonResponse:
    """Run a tick now, for the instant ``at`` (default now): every active rule, in
    position order. Returns what each rule did: fired, failed (with ticket-api's reason),
    stale (changed since the search: looked at again next tick), deferred (ticket-api
    unreachable: resent next tick)."""
    scheduler: Scheduler = request.app.state.scheduler
    result = await scheduler.tick(instant)
    return JsonResponse(result.out())
