"""``GET /v1/whoami``: what a key is. Other services ask it to authenticate their callers
(helpdesk_service.auth.RemoteKeyAuth); the answer's schema is the client's ``WhoAmI``."""

from __future__ import annotations

from fastapi import APIRouter
from helpdesk_service.responses import JsonResponse
from helpdesk_ticket_client import WhoAmI

from .auth import AnyRole, Principal

router = APIRouter(prefix="/v1", tags=["api keys"])


@router.get("/whoami", response_model=WhoAmI)
async def whoami(principal: Principal = AnyRole) -> JsonResponse:
    return JsonResponse(
        WhoAmI(
            key_id=principal.key_id,
            name=principal.name,
            role=principal.role,
            agent_id=principal.agent_id,
            department_ids=sorted(principal.department_ids),
        ).model_dump(mode="json")
    )
