"""``GET /v1/whoami``: what a key is. Other services ask it to authenticate their callers."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from helpdesk_service.responses import JsonResponse
from pydantic import BaseModel

from .auth import AnyRole, Principal

router = APIRouter(prefix="/v1", tags=["api keys"])


class WhoAmI(BaseModel):
    key_id: uuid.UUID
    name: str
    role: str
    agent_id: uuid.UUID | None
    department_ids: list[uuid.UUID]


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
