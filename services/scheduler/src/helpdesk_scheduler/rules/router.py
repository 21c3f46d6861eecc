"""/v1/time-rules: time rule CRUD, with the same pointed 422s as action rules."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from helpdesk_rule_actions.actions import dump_actions
from helpdesk_rule_actions.editing import apply_patch, check_patched_references, new_rule_row
from helpdesk_rule_actions.references import REFERENCE_CHECK_RESPONSES, check_references
from helpdesk_service.auth import AdminOnly, AnyRole, Principal
from helpdesk_service.db import get_or_not_found
from helpdesk_service.responses import JsonResponse
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import TimeRule
from ..sessions import Session
from .schemas import TimeRuleIn, TimeRuleOut, TimeRulePatch
from .service import check_time_rule, next_position

router = APIRouter(prefix="/v1", tags=["time rules"])


def _out(rule: TimeRule) -> dict[str, Any]:
    return TimeRuleOut.model_validate(rule).model_dump(mode="json")


async def get_time_rule(session: AsyncSession, rule_id: uuid.UUID) -> TimeRule:
    return await get_or_not_found(session, TimeRule, rule_id, f"no time rule with id {rule_id}")


@router.post(
    "/time-rules",
    status_code=201,
    response_model=TimeRuleOut,
    responses=REFERENCE_CHECK_RESPONSES,
)
async def create_time_rule(
    data: TimeRuleIn, request: Request, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """Create a time rule. Conditions: libs/conditions/README.md (time conditions: a date
    field with older_than / within_last); actions: docs/rule-engine.md."""
    actions = dump_actions(data.actions)
    check_time_rule(
        data.conditions,
        actions,
        custom_fields=await request.app.state.scheduler.custom_fields_for(data.conditions),
    )
    await check_references(
        request.app.state.ticket_api, request.app.state.sla_levels, actions, data.conditions
    )
    position = data.position if data.position is not None else await next_position(session)
    rule = new_rule_row(TimeRule, data, position, request.app.state.clock.now())
    session.add(rule)
    await session.commit()
    return JsonResponse(_out(rule), 201)


@router.get("/time-rules")
async def list_time_rules(
    session: Session, active: bool | None = None, _: Principal = AnyRole
) -> JsonResponse:
    """Time rules in the order a tick runs them (by position)."""
    query = select(TimeRule)
    if active is not None:
        query = query.where(TimeRule.active.is_(active))
    rows = (await session.execute(query.order_by(TimeRule.position, TimeRule.id))).scalars()
    return JsonResponse({"items": [_out(r) for r in rows]})


@router.get("/time-rules/{rule_id}", response_model=TimeRuleOut)
async def read_time_rule(
    rule_id: uuid.UUID, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    return JsonResponse(_out(await get_time_rule(session, rule_id)))


@router.patch(
    "/time-rules/{rule_id}", response_model=TimeRuleOut, responses=REFERENCE_CHECK_RESPONSES
)
async def patch_time_rule(
    rule_id: uuid.UUID,
    data: TimeRulePatch,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    rule = await get_time_rule(session, rule_id)
    given = apply_patch(rule, data)
    new_conditions = "conditions" in given
    check_time_rule(
        rule.conditions,
        rule.actions,
        new_conditions=new_conditions,
        custom_fields=(
            await request.app.state.scheduler.custom_fields_for(rule.conditions)
            if new_conditions
            else None
        ),
    )
    await check_patched_references(
        request.app.state.ticket_api, request.app.state.sla_levels, rule, given
    )
    rule.updated_at = request.app.state.clock.now()
    await session.commit()
    return JsonResponse(_out(rule))


@router.delete("/time-rules/{rule_id}", status_code=204)
async def delete_time_rule(
    rule_id: uuid.UUID, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """Delete the rule and its ledger."""
    await get_time_rule(session, rule_id)
    await session.execute(delete(TimeRule).where(TimeRule.id == rule_id))
    await session.commit()
    return JsonResponse(None, 204)
