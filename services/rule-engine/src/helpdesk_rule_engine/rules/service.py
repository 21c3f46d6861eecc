"""Storing rules, and the compiled rule set every instance keeps in memory."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_service import heap
from helpdesk_service.errors import Unprocessable
from helpdesk_ticket_client import TicketApiClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..engine.actions import SLA_RULE_ACTIONS
from ..engine.conditions import condition_errors, uses_custom_fields
from ..engine.ruleset import RuleSet
from ..models import Rule, RuleSetVersion


class RuleCache:
    """The compiled rule set, recompiled when ``rule_set_version`` moved, so a rule saved on
    any instance applies to the next event. ``current`` checks the version (one primary-key
    read); the worker instead checks it inside the first statement it writes with (see
    ``handlers/tickets.py``) and calls ``current`` again only when it moved. Custom field
    definitions come from ticket-api when a rule needs them."""

    def __init__(self, ticket_api: TicketApiClient) -> None:
        self._ticket_api = ticket_api
        self._ruleset: RuleSet | None = None

    @property
    def cached(self) -> RuleSet | None:
        """The rule set compiled last, without asking whether it is still current."""
        return self._ruleset

    async def current(self, session: AsyncSession) -> RuleSet:
        version = int(await session.scalar(_VERSION) or 0)
        if self._ruleset is None or self._ruleset.version != version:
            rows = (await session.execute(_ACTIVE_RULES)).scalars().all()
            custom_fields = (
                await self._ticket_api.custom_fields()
                if any(uses_custom_fields(r.conditions) for r in rows)
                else []
            )
            inactive = (await session.execute(_INACTIVE_RULES)).all()
            self._ruleset = RuleSet.build(version, rows, custom_fields, inactive)
            # The compiled rule set lives until the next change: out of the collector's way.
            heap.settle()
        return self._ruleset


_VERSION = select(RuleSetVersion.version).where(RuleSetVersion.id == 1)
_ACTIVE_RULES = select(Rule).where(Rule.active.is_(True))
_INACTIVE_RULES = select(Rule.id, Rule.kind, Rule.trigger).where(Rule.active.is_(False))


async def bump_version(session: AsyncSession) -> None:
    await session.execute(
        update(RuleSetVersion)
        .where(RuleSetVersion.id == 1)
        .values(version=RuleSetVersion.version + 1)
    )


def check_rule(
    kind: str,
    trigger: str,
    conditions: dict[str, Any],
    actions: list[dict[str, Any]],
    *,
    new_conditions: bool = True,
) -> None:
    """What pydantic cannot see alone: conditions, SLA rule limits, purge placement.
    ``new_conditions``: the conditions are being set now (a rule saved before every_ticket
    existed keeps its empty conditions through edits of other fields)."""
    errors = condition_errors(conditions, pointer="conditions")
    if new_conditions and conditions == {"any": []}:
        # "Every ticket" must be asked for, not reached by leaving the conditions empty.
        errors.append(
            {
                "field": "conditions.any",
                "message": "a rule needs at least one group of conditions; "
                'to act on every ticket, write "conditions": {"every_ticket": true}',
            }
        )
    if kind == "sla":
        if trigger != "ticket_created":
            errors.append(
                {"field": "trigger", "message": "SLA rules run on new tickets: use ticket_created"}
            )
        allowed = " or ".join(sorted(SLA_RULE_ACTIONS))
        for index, action in enumerate(actions):
            if action["type"] not in SLA_RULE_ACTIONS:
                errors.append(
                    {
                        "field": f"actions[{index}].type",
                        "message": f"SLA rules can only {allowed}, not {action['type']}",
                    }
                )
    ticket_changes = [
        i
        for i, a in enumerate(actions)
        if a["type"] not in ("stop_rules", "send_email", "call_url", "http_request")
    ]
    purges = [i for i, a in enumerate(actions) if a["type"] == "purge"]
    if purges and purges[0] != ticket_changes[-1]:
        errors.append(
            {
                "field": f"actions[{purges[0]}]",
                "message": "purge must be the last action that changes the ticket",
            }
        )
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), details=errors
        )


async def next_position(session: AsyncSession, kind: str) -> int:
    current = await session.scalar(select(func.max(Rule.position)).where(Rule.kind == kind))
    return 10 if current is None else int(current) + 10


def new_rule(data: Any, position: int, now: datetime) -> Rule:
    return Rule(
        id=uuid.uuid4(),
        kind=data.kind,
        name=data.name,
        notes=data.notes,
        active=data.active,
        shadow=data.shadow,
        position=position,
        trigger=data.trigger,
        conditions=data.conditions,
        actions=dump_actions(data.actions),
        created_at=now,
        updated_at=now,
    )


def dump_actions(actions: list[Any]) -> list[dict[str, Any]]:
    # Only what the admin set: a transfer to a department alone must not gain "agent_id": null.
    return [a.model_dump(mode="json", exclude_unset=True) for a in actions]
