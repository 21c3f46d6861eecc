"""Storing rules, and the compiled rule set every instance keeps in memory."""

from __future__ import annotations

from typing import Any

from helpdesk_rule_actions.validation import definition_errors, raise_if_invalid
from helpdesk_service import heap
from helpdesk_ticket_client import TicketApiClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..engine.conditions import uses_custom_fields
from ..engine.ruleset import RuleSet
from ..models import Rule, RuleSetVersion

SLA_RULE_ACTIONS = frozenset({"change_sla_level", "stop_rules"})


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
    """What pydantic cannot see alone: the definition's checks every kind of rule makes
    (helpdesk_rule_actions.validation), and SLA rules' limits."""
    errors = definition_errors(conditions, actions, new_conditions=new_conditions)
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
    raise_if_invalid(errors)


async def next_position(session: AsyncSession, kind: str) -> int:
    current = await session.scalar(select(func.max(Rule.position)).where(Rule.kind == kind))
    return 10 if current is None else int(current) + 10
