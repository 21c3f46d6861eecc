"""/v1/rules: rule CRUD, dry-run tests, and the evaluation traces ("why did / didn't rule X
fire on ticket Y?")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from helpdesk_events import Change, TicketSnapshot
from helpdesk_rule_actions.actions import dump_actions
from helpdesk_rule_actions.editing import apply_patch, check_patched_references, new_rule_row
from helpdesk_rule_actions.plan import plan_actions
from helpdesk_rule_actions.references import REFERENCE_CHECK_RESPONSES, check_references
from helpdesk_service.auth import AdminOnly, AnyRole, Principal
from helpdesk_service.db import Session, get_or_not_found
from helpdesk_service.errors import Unprocessable, field_errors
from helpdesk_service.responses import JsonResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..engine.conditions import uses_custom_fields
from ..engine.ruleset import compile_rule
from ..engine.triggers import Trigger
from ..models import Evaluation, Rule, evaluation_results, inactive_results
from .schemas import RuleIn, RuleOut, RulePatch
from .service import bump_version, check_rule, next_position

router = APIRouter(prefix="/v1", tags=["rules"])


def _out(rule: Rule) -> dict[str, Any]:
    return RuleOut.model_validate(rule).model_dump(mode="json")


@router.post("/rules", status_code=201, response_model=RuleOut, responses=REFERENCE_CHECK_RESPONSES)
async def create_rule(
    data: RuleIn, request: Request, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """Create a rule. Conditions: see libs/conditions/README.md; actions: docs/rule-engine.md."""
    actions = dump_actions(data.actions)
    check_rule(data.kind, data.trigger, data.conditions, actions)
    await check_references(
        request.app.state.ticket_api, request.app.state.sla_levels, actions, data.conditions
    )
    position = (
        data.position if data.position is not None else await next_position(session, data.kind)
    )
    rule = new_rule_row(Rule, data, position, request.app.state.clock.now())
    session.add(rule)
    await bump_version(session)
    await session.commit()
    return JsonResponse(_out(rule), 201)


@router.get("/rules")
async def list_rules(
    session: Session,
    kind: str | None = None,
    trigger: Trigger | None = None,
    active: bool | None = None,
    _: Principal = AnyRole,
) -> JsonResponse:
    """Rules in evaluation order: SLA rules first, then action rules, by position."""
    query = select(Rule)
    if kind is not None:
        query = query.where(Rule.kind == kind)
    if trigger is not None:
        query = query.where(Rule.trigger == trigger)
    if active is not None:
        query = query.where(Rule.active.is_(active))
    rows = (
        await session.execute(query.order_by(Rule.kind.desc(), Rule.position, Rule.id))
    ).scalars()
    return JsonResponse({"items": [_out(r) for r in rows]})


async def _get(session: AsyncSession, rule_id: uuid.UUID) -> Rule:
    return await get_or_not_found(session, Rule, rule_id, f"no rule with id {rule_id}")


@router.get("/rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: uuid.UUID, session: Session, _: Principal = AnyRole) -> JsonResponse:
    return JsonResponse(_out(await _get(session, rule_id)))


@router.patch("/rules/{rule_id}", response_model=RuleOut, responses=REFERENCE_CHECK_RESPONSES)
async def patch_rule(
    rule_id: uuid.UUID,
    data: RulePatch,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    rule = await _get(session, rule_id)
    given = apply_patch(rule, data)
    check_rule(
        rule.kind,
        rule.trigger,
        rule.conditions,
        rule.actions,
        new_conditions="conditions" in given,
    )
    await check_patched_references(
        request.app.state.ticket_api, request.app.state.sla_levels, rule, given
    )
    rule.updated_at = request.app.state.clock.now()
    await bump_version(session)
    await session.commit()
    return JsonResponse(_out(rule))


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(
    rule_id: uuid.UUID, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    await _get(session, rule_id)
    await session.execute(delete(Rule).where(Rule.id == rule_id))
    await bump_version(session)
    await session.commit()
    return JsonResponse(None, 204)


class RuleTest(BaseModel):
    """Evaluate a draft rule against a ticket, without acting."""

    model_config = ConfigDict(extra="forbid")

    rule: RuleIn
    ticket_id: uuid.UUID | None = None
    ticket: dict[str, Any] | None = Field(
        default=None, description="a ticket snapshot instead of ticket_id"
    )
    changes: dict[str, Change] = Field(
        default={}, description="for changed / changed_to / changed_from"
    )
    at: datetime | None = Field(
        default=None, description="evaluate as of this instant (default: now)"
    )


@router.post("/rules/test")
async def dry_run_rule(data: RuleTest, request: Request, _: Principal = AnyRole) -> JsonResponse:
    """Would this rule fire on this ticket, and what would it do? Nothing is changed."""
    actions = dump_actions(data.rule.actions)
    check_rule(data.rule.kind, data.rule.trigger, data.rule.conditions, actions)
    if (data.ticket_id is None) == (data.ticket is None):
        raise Unprocessable("give ticket_id or ticket, not both or neither")
    if data.ticket_id is not None:
        raw = await request.app.state.ticket_api.get_ticket(data.ticket_id)
        if raw is None:
            raise Unprocessable(
                f"ticket_id: no ticket with id {data.ticket_id}", code="unknown_reference"
            )
    else:
        raw = data.ticket
    try:
        ticket = TicketSnapshot.model_validate(raw)
    except ValidationError as exc:
        raise field_errors(exc.errors(), at=("ticket",)) from exc
    draft = new_rule_row(Rule, data.rule, 0, request.app.state.clock.now())
    custom_fields = (
        await request.app.state.ticket_api.custom_fields()
        if uses_custom_fields(draft.conditions)
        else []
    )
    compiled = compile_rule(draft, custom_fields)
    now = data.at or request.app.state.clock.now()
    trace = compiled.conditions.explain(ticket, data.changes, now)
    plan = plan_actions(compiled.actions, ticket, "dry-run")
    return JsonResponse(
        {
            "matched": trace["matched"],
            "trace": trace,
            "would_do": plan.describe() if trace["matched"] else None,
        }
    )


# Whether the rule is among the 16-byte ids of Evaluation.not_matched (at a 16-byte
# boundary: a match straddling two ids is not one).
def _packed_ids_have(column: str) -> str:
    return (
        f"EXISTS (SELECT FROM generate_series(0, length(rules.evaluation.{column}) / 16 - 1) g "
        f"WHERE substring(rules.evaluation.{column} FROM g * 16 + 1 FOR 16) = :rule)"
    )


_NOT_MATCHED_HAS = text(_packed_ids_have("not_matched"))
_INACTIVE_HAS = text(_packed_ids_have("inactive"))


@router.get("/tickets/{ticket_id}/evaluations", tags=["traces"])
async def evaluations(
    ticket_id: uuid.UUID,
    request: Request,
    session: Session,
    rule_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    _: Principal = AnyRole,
) -> JsonResponse:
    """What the engine decided for this ticket's events, newest first: per rule, the outcome
    (fired, not_matched, already_fired, depth_limit, shadow, skipped, failed, inactive —
    listed after the rules that ran), the reason,
    every condition with the value it saw, and the actions taken.

    Traces of rules that did not match are not stored by default
    (``RULE_ENGINE_FULL_TRACES``); they are recomputed here from the ticket the rule saw,
    with the rule as it is now (``trace_recomputed``; ``rule_changed_since`` says whether
    the rule was edited after the evaluation)."""
    query = select(Evaluation).where(Evaluation.ticket_id == ticket_id)
    if rule_id is not None:
        query = query.where(
            or_(
                Evaluation.results.contains([{"rule_id": str(rule_id)}]),
                _NOT_MATCHED_HAS.bindparams(rule=rule_id.bytes),
                _INACTIVE_HAS.bindparams(rule=rule_id.bytes),
            )
        )
    rows = (await session.execute(query.order_by(Evaluation.id.desc()).limit(limit))).scalars()
    explainer = _Explainer(session, request)
    items = []
    for row in rows:
        results = []
        for result in [*evaluation_results(row), *inactive_results(row)]:
            if rule_id is not None and result["rule_id"] != str(rule_id):
                continue
            if "trace" not in result and result.get("outcome") == "not_matched":
                result = {**result, **await explainer.trace(row, result)}
            elif result["outcome"] == "inactive":
                result = {"rule_name": await explainer.name(result["rule_id"]), **result}
            results.append(result)
        items.append(
            {
                "event_id": str(row.event_id),
                "event_type": row.event_type,
                "correlation_id": str(row.correlation_id),
                "depth": row.depth,
                "triggers": row.triggers,
                "evaluated_at": row.evaluated_at.isoformat(),
                "results": results,
            }
        )
    return JsonResponse({"items": items})


class _Explainer:
    """Recomputes traces for an evaluations response, compiling each rule once."""

    def __init__(self, session: AsyncSession, request: Request) -> None:
        self._session = session
        self._request = request
        self._rules: dict[str, tuple[Rule | None, Any]] = {}

    async def name(self, rule_id: str) -> str | None:
        """The rule's name as it is now (None once deleted)."""
        rule, _ = await self._rule(rule_id)
        return rule.name if rule is not None else None

    async def trace(self, row: Evaluation, result: dict[str, Any]) -> dict[str, Any]:
        rule, compiled = await self._rule(result["rule_id"])
        # Entries stored compactly name no kind: the rule's (it cannot change) if it exists.
        kind = {"kind": result.get("kind", rule.kind if rule is not None else None)}
        ticket = (row.tickets or {}).get(str(result.get("ticket_version")))
        if rule is None or compiled is None or ticket is None:
            return {**kind, "trace": None, "trace_recomputed": False}
        changes = {f: Change.model_validate(c) for f, c in (row.changes or {}).items()}
        trace = compiled.conditions.explain(
            TicketSnapshot.model_validate(ticket), changes, row.evaluated_at
        )
        return {
            **kind,
            "trace": trace,
            "trace_recomputed": True,
            "rule_changed_since": rule.updated_at > row.evaluated_at,
        }

    async def _rule(self, rule_id: str) -> tuple[Rule | None, Any]:
        if rule_id not in self._rules:
            rule = await self._session.get(Rule, uuid.UUID(rule_id))
            compiled = None
            if rule is not None:
                custom_fields = (
                    await self._request.app.state.ticket_api.custom_fields()
                    if uses_custom_fields(rule.conditions)
                    else []
                )
                compiled = compile_rule(rule, custom_fields)
            self._rules[rule_id] = (rule, compiled)
        return self._rules[rule_id]
