"""Checking time rules, and where a new one goes in the tick's order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpdesk_conditions import CustomField
from helpdesk_rule_actions.validation import condition_errors, definition_errors, raise_if_invalid
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import TimeRule

_CHANGE_OPERATORS = frozenset({"changed", "changed_to", "changed_from"})


def check_time_rule(
    conditions: dict[str, Any],
    actions: list[dict[str, Any]],
    *,
    new_conditions: bool = True,
    custom_fields: list[CustomField] | None = None,
) -> None:
    """The checks every rule makes, and what has no meaning for a rule that runs on the
    clock rather than on a change: change operators, and stop_rules (each time rule is its
    own search). With ``custom_fields`` (the definitions), conditions on custom fields are
    checked against them: ticket-api's search would refuse an unknown one at every tick."""
    errors = definition_errors(conditions, actions, new_conditions=new_conditions)
    if not errors and custom_fields is not None:
        errors = condition_errors(conditions, pointer="conditions", custom_fields=custom_fields)
    if not errors:
        for g, group in enumerate(conditions.get("any", [])):
            for c, condition in enumerate(_conditions_of(group)):
                if condition.get("op") in _CHANGE_OPERATORS:
                    errors.append(
                        {
                            "field": f"conditions.any[{g}].all[{c}].op",
                            "message": "time rules run on the clock, not on a change: test "
                            "the field's current value or how long ago it was set",
                        }
                    )
    errors.extend(
        {
            "field": f"actions[{index}].type",
            "message": "time rules run one by one, each on its own tickets: stop_rules has "
            "nothing to stop",
        }
        for index, action in enumerate(actions)
        if action["type"] == "stop_rules"
    )
    raise_if_invalid(errors)


def _conditions_of(group: Any) -> list[Mapping[str, Any]]:
    return list(group.get("all", [])) if isinstance(group, Mapping) else []


async def next_position(session: AsyncSession) -> int:
    current = await session.scalar(select(func.max(TimeRule.position)))
    return 10 if current is None else int(current) + 10
