"""The ``changed*`` operators say no whenever the triggering event does not show the move
they ask about: no event, another field changed, the field moved elsewhere, or came back
to where it was. Each negative case sits next to the positive one it differs from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from helpdesk_conditions import compile_python
from helpdesk_events import Change

from tests.events.helpers import snapshot

from .conftest import CUSTOM_FIELDS, NOW

AGENT = uuid.UUID("00000000-0000-0000-0000-00000000000a")
OTHER_AGENT = uuid.UUID("00000000-0000-0000-0000-00000000000b")
EARLIER = datetime(2026, 1, 4, 8, 0, tzinfo=UTC).isoformat()
LATER = datetime(2026, 1, 5, 8, 30, tzinfo=UTC).isoformat()

TICKET = snapshot(NOW, code="T-1", subject="Printer on fire")


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op} | ({} if value is None else {"value": value})


def moved(key: str, before: Any, after: Any) -> dict[str, Change]:
    return {key: Change(before=before, after=after)}


def verdict(condition: dict[str, Any], changes: dict[str, Change] | None) -> bool:
    compiled = compile_python({"any": [{"all": [condition]}]}, custom_fields=CUSTOM_FIELDS)
    matched = compiled.matches(TICKET, changes, NOW)
    assert compiled.explain(TICKET, changes, NOW).matched == matched
    return matched


SUBJECT = moved("subject", "Printer broken", "Printer on fire")
STATUS = moved("status", "new", "open")
AGENT_MOVE = moved("agent_id", str(AGENT), str(OTHER_AGENT))
TAGS = moved("tags", ["billing", "vip"], ["billing", "urgent"])
SCORE = moved("custom_fields", {"score": 1, "plan": "free"}, {"score": 3, "plan": "free"})
PLAN = moved("custom_fields", {"plan": "free"}, {"plan": "pro"})
NOTE = moved("custom_fields", {"note": "Call back"}, {"note": "Called"})
VIP = moved("custom_fields", {"vip": False}, {"vip": True})
DUE = moved("custom_fields", {"due": "2026-01-05"}, {"due": "2026-02-01"})
DELETED = moved("deleted_at", None, LATER)
REPLIED = moved("last_agent_reply_at", EARLIER, LATER)

# (condition, changes): each holds.
POSITIVE = [
    (cond("subject", "changed"), SUBJECT),
    (cond("subject", "changed_to", "PRINTER ON FIRE"), SUBJECT),
    (cond("subject", "changed_from", "printer broken"), SUBJECT),
    (cond("status", "changed"), STATUS),
    (cond("status", "changed_to", "open"), STATUS),
    (cond("status", "changed_from", "new"), STATUS),
    (cond("agent_id", "changed_to", str(OTHER_AGENT)), AGENT_MOVE),
    (cond("agent_id", "changed_from", str(AGENT)), AGENT_MOVE),
    (cond("agent_id", "changed_to", str(AGENT)), moved("agent_id", None, str(AGENT))),
    (cond("tags", "changed"), TAGS),
    (cond("tags", "changed_to", "urgent"), TAGS),
    (cond("tags", "changed_from", "vip"), TAGS),
    (cond("custom_fields.score", "changed"), SCORE),
    (cond("custom_fields.score", "changed_to", 3), SCORE),
    (cond("custom_fields.score", "changed_from", 1), SCORE),
    (cond("custom_fields.plan", "changed_to", "pro"), PLAN),
    (cond("custom_fields.plan", "changed_from", "free"), PLAN),
    (cond("custom_fields.note", "changed_to", "called"), NOTE),
    (cond("custom_fields.note", "changed_from", "CALL BACK"), NOTE),
    (cond("custom_fields.vip", "changed_to", True), VIP),
    (cond("custom_fields.vip", "changed_from", False), VIP),
    (cond("custom_fields.due", "changed"), DUE),
    (cond("deleted", "changed"), DELETED),
    (cond("deleted", "changed_to", True), DELETED),
    (cond("deleted", "changed_from", False), DELETED),
    (cond("last_agent_reply_at", "changed"), REPLIED),
    (cond("last_agent_reply_at", "changed"), moved("last_agent_reply_at", None, LATER)),
]

# (condition, changes, why it must not hold).
NEGATIVE = [
    # No event at all (a time rule), or an event that changed something else.
    *[(c, None, "no event") for c, _ in POSITIVE],
    *[(c, {}, "an event without changes") for c, _ in POSITIVE],
    *[
        (c, moved("priority", "low", "high"), "another field changed")
        for c, _ in POSITIVE
        if c["field"] != "priority"
    ],
    # The field "changed" to what it was.
    (cond("subject", "changed"), moved("subject", "Same", "Same"), "no move"),
    (cond("status", "changed"), moved("status", "open", "open"), "no move"),
    (cond("agent_id", "changed"), moved("agent_id", str(AGENT), str(AGENT)), "no move"),
    (cond("tags", "changed"), moved("tags", ["a", "b"], ["b", "a"]), "only reordered"),
    (cond("last_agent_reply_at", "changed"), moved("last_agent_reply_at", LATER, LATER), "same"),
    (cond("deleted", "changed"), moved("deleted_at", None, None), "still not deleted"),
    (cond("deleted", "changed"), moved("deleted_at", EARLIER, LATER), "deleted all along"),
    (cond("custom_fields.score", "changed"), PLAN, "another custom field changed"),
    (
        cond("custom_fields.score", "changed"),
        moved("custom_fields", {"score": 2}, {"score": 2.0}),
        "the same number",
    ),
    (cond("custom_fields.due", "changed"), PLAN, "another custom field changed"),
    # changed_to: the field moved, but not to this value.
    (cond("subject", "changed_to", "printer broken"), SUBJECT, "moved away from it"),
    (cond("subject", "changed_to", "Toner empty"), SUBJECT, "moved somewhere else"),
    (cond("subject", "changed_to", "Printer"), SUBJECT, "a prefix is not the value"),
    (cond("status", "changed_to", "new"), STATUS, "moved away from it"),
    (cond("status", "changed_to", "resolved"), STATUS, "moved somewhere else"),
    (cond("status", "changed_to", "open"), moved("status", "open", "open"), "no move"),
    (cond("agent_id", "changed_to", str(AGENT)), AGENT_MOVE, "moved away from it"),
    (cond("agent_id", "changed_to", str(AGENT)), moved("agent_id", str(AGENT), None), "unset"),
    (cond("tags", "changed_to", "billing"), TAGS, "kept, not added"),
    (cond("tags", "changed_to", "vip"), TAGS, "removed, not added"),
    (cond("tags", "changed_to", "bug"), TAGS, "never there"),
    (cond("custom_fields.score", "changed_to", 1), SCORE, "moved away from it"),
    (cond("custom_fields.score", "changed_to", 4), SCORE, "moved somewhere else"),
    (
        cond("custom_fields.score", "changed_to", 0),
        moved("custom_fields", {"score": 1}, {}),
        "removed is not zero",
    ),
    (cond("custom_fields.plan", "changed_to", "free"), SCORE, "plan kept while score moved"),
    (cond("custom_fields.plan", "changed_to", "free"), PLAN, "moved away from it"),
    (cond("custom_fields.note", "changed_to", "call back"), NOTE, "moved away from it"),
    (cond("custom_fields.note", "changed_to", "Call"), NOTE, "a prefix is not the value"),
    (cond("custom_fields.vip", "changed_to", False), VIP, "moved away from it"),
    (cond("deleted", "changed_to", False), DELETED, "it was deleted"),
    # changed_from: the field moved, but not from this value.
    (cond("subject", "changed_from", "printer on fire"), SUBJECT, "moved to it"),
    (cond("subject", "changed_from", "Toner empty"), SUBJECT, "came from elsewhere"),
    (cond("status", "changed_from", "open"), STATUS, "moved to it"),
    (cond("status", "changed_from", "resolved"), STATUS, "came from elsewhere"),
    (cond("agent_id", "changed_from", str(OTHER_AGENT)), AGENT_MOVE, "moved to it"),
    (
        cond("agent_id", "changed_from", str(AGENT)),
        moved("agent_id", None, str(AGENT)),
        "assigned to it, not from it",
    ),
    (cond("tags", "changed_from", "urgent"), TAGS, "added, not removed"),
    (cond("tags", "changed_from", "billing"), TAGS, "kept, not removed"),
    (cond("tags", "changed_from", "bug"), TAGS, "never there"),
    (cond("custom_fields.score", "changed_from", 3), SCORE, "moved to it"),
    (cond("custom_fields.score", "changed_from", 2), SCORE, "came from elsewhere"),
    (cond("custom_fields.plan", "changed_from", "pro"), PLAN, "moved to it"),
    (cond("custom_fields.note", "changed_from", "called"), NOTE, "moved to it"),
    (cond("custom_fields.vip", "changed_from", True), VIP, "moved to it"),
    (cond("deleted", "changed_from", True), DELETED, "it was not deleted before"),
]


def named(condition: dict[str, Any], why: str = "") -> str:
    value = f" {condition['value']}" if "value" in condition else ""
    return f"{condition['field']} {condition['op']}{value}" + (f": {why}" if why else "")


@pytest.mark.parametrize(
    ("condition", "changes"), [pytest.param(c, ch, id=named(c)) for c, ch in POSITIVE]
)
def test_changed_operators_hold_for_the_move_they_describe(condition, changes):
    assert verdict(condition, changes) is True


@pytest.mark.parametrize(
    ("condition", "changes"),
    [pytest.param(c, ch, id=named(c, why)) for c, ch, why in NEGATIVE],
)
def test_changed_operators_do_not_hold_otherwise(condition, changes):
    assert verdict(condition, changes) is False
