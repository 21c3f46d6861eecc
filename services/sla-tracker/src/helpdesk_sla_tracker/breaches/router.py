"""POST /v1/scan: fire the warnings and breaches due at an instant now, instead of waiting
for the scanner (operations, and tests that drive time)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from helpdesk_events import Topics
from helpdesk_service.auth import AdminOnly, Principal
from helpdesk_service.errors import Unprocessable
from helpdesk_service.responses import JsonResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict

from .scan import scan

router = APIRouter(prefix="/v1", tags=["breaches"])


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = None


@router.post("/scan")
async def run_scan(data: ScanIn, request: Request, _: Principal = AdminOnly) -> JsonResponse:
    """Scan as of ``at`` (default: now; never later, which would fire breaches early,
    unless the unsafe_scan_ahead_of_now setting allows it for end-to-end tests). Warnings
    and breaches still fire once per clock."""
    state = request.app.state
    now: datetime = state.clock.now()
    at = data.at or now
    if at > now and not state.settings.unsafe_scan_ahead_of_now:
        raise Unprocessable(
            f"at: {at.isoformat()} is later than now ({now.isoformat()})",
            details=[{"field": "at", "message": "later than now", "type": "value_error"}],
        )
    result = await scan(state.sessions, Topics(state.settings.topic_prefix), at)
    return JsonResponse(
        {"at": at.isoformat(), "warned": result.warned, "breached": result.breached}
    )
