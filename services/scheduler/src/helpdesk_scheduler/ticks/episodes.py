"""Episodes and reasons: when a ticket's current episode began, and why a time rule is due
on it.

An episode begins with the ticket's last activity by a person — its creation, the
customer's last message, an agent's last reply. A time rule fires on a ticket once per
episode: what the rule itself (or another rule, or the system) does to the ticket starts
no new one, so "48 hours without a reply" reminds once, not every minute."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from helpdesk_conditions import PythonConditions
from helpdesk_events import TicketSnapshot

_RELATIVE = frozenset({"older_than", "within_last"})


def episode_anchor(ticket: TicketSnapshot) -> datetime:
    """When the ticket's current episode began: its last activity by a person."""
    return max(
        moment
        for moment in (
            ticket.created_at,
            ticket.last_customer_message_at,
            ticket.last_agent_reply_at,
        )
        if moment is not None
    )


def firing_key(rule_id: uuid.UUID, ticket_id: uuid.UUID, anchor: datetime) -> str:
    """The idempotency key of one firing, ``<rule id>:<ticket id>:<episode anchor>``: the
    same for every attempt, whichever scheduler makes it."""
    micros = int(anchor.timestamp() * 1_000_000)
    return f"{rule_id}:{ticket_id}:{micros}"


def firing_id(key: str) -> uuid.UUID:
    """A stable id derived from a firing key (correlation id, notifier request ids)."""
    return uuid.UUID(bytes=hashlib.sha256(key.encode()).digest()[:16], version=5)


# How late after the instant it falls due a held firing may be (falls_due's bisection).
FIRING_PRECISION = timedelta(seconds=1)


def falls_due(
    conditions: PythonConditions, ticket: TicketSnapshot, after: datetime, until: datetime
) -> datetime | None:
    """The instant in (``after``, ``until``] at which ``conditions`` come to match the
    ``ticket`` as it is: ``after`` when they match already, None when they do not match at
    ``until``.

    Found by bisection of the window down to ``FIRING_PRECISION``, keeping an instant at
    which they match as the upper end: the result is never before the ticket falls due and
    at most a second after it. Bisection asks nothing of the conditions but ``matches``, so
    it serves every form the language has (strict ``older_than`` and inclusive
    ``within_last`` bounds, date-only custom fields rounded to the day, several groups,
    thresholds on several dates) without a second reading of their semantics; a 60 s window
    takes six evaluations. Conditions that hold, stop holding and hold again inside the
    window (a ``within_last`` beside an ``older_than``) may be found at a later start than
    their first: never early."""
    if not conditions.matches(ticket, None, until):
        return None
    if conditions.matches(ticket, None, after):
        return after
    low, high = after, until
    while high - low > FIRING_PRECISION:
        middle = low + (high - low) / 2
        if conditions.matches(ticket, None, middle):
            high = middle
        else:
            low = middle
    return high


def due_reasons(
    conditions: PythonConditions, ticket: TicketSnapshot, at: datetime
) -> list[dict[str, Any]]:
    """Which time conditions hold and for how long, from the first group that matches: e.g.
    ``last_customer_message_at older_than 48 hours: 52.5 hours ago``. Empty when the rule
    has no time condition (or matches every ticket)."""
    trace = conditions.explain(ticket, None, at)
    for group in trace.groups:
        if not group.matched:
            continue
        reasons = []
        for condition in group.conditions:
            if condition.op not in _RELATIVE or not isinstance(condition.actual, datetime):
                continue
            elapsed_minutes = (at - condition.actual).total_seconds() / 60
            reasons.append(
                {
                    "field": condition.field,
                    "op": condition.op,
                    "value": condition.expected,
                    "unit": condition.unit,
                    "since": condition.actual.isoformat(),
                    "elapsed_minutes": round(elapsed_minutes, 1),
                    "text": f"{condition.field} {condition.op} {condition.expected} "
                    f"{condition.unit}: {_elapsed(elapsed_minutes, condition.unit)} ago",
                }
            )
        return reasons
    return []


def _elapsed(minutes: float, unit: str | None) -> str:
    divisor = {"hours": 60, "days": 1440}.get(unit or "minutes", 1)
    return f"{minutes / divisor:.1f} {unit or 'minutes'}"
