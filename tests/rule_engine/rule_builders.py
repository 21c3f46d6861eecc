"""Rule and action bodies the rule-engine tests write more than once."""

from typing import Any

import httpx

from tests.rule_engine.conftest import any_of, cond, make_rule


def send_email(*to: str, subject: str, body: str) -> dict[str, Any]:
    """A send_email action to ``to``."""
    return {"type": "send_email", "to": list(to), "subject": subject, "body": body}


async def rule_on_priority(
    rules: httpx.AsyncClient, name: str, priority: str, action: dict[str, Any]
) -> dict[str, Any]:
    """A rule named ``name`` that takes ``action`` on a ticket of ``priority``."""
    return await make_rule(
        rules, name=name, conditions=any_of([cond("priority", "is", priority)]), actions=[action]
    )
