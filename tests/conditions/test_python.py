"""The Python predicate, field type by field type, operator by operator; changes; the trace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpdesk_conditions import ConditionError, compile_python, compile_rule_set
from helpdesk_events import Change, MessageSnapshot, TicketSnapshot

from .conftest import CUSTOM_FIELDS, NOW

DEPT = uuid.UUID("00000000-0000-0000-0000-00000000000d")
AGENT = uuid.UUID("00000000-0000-0000-0000-00000000000a")
GROUP = uuid.UUID("00000000-0000-0000-0000-00000000000b")
OTHER = uuid.UUID("00000000-0000-0000-0000-0000000000ff")


def snapshot(message: dict[str, Any] | None = None, **fields: Any) -> TicketSnapshot:
    ticket_id = uuid.uuid4()
    last_message = None
    if message is not None:
        last_message = MessageSnapshot(
            id=uuid.uuid4(),
            ticket_id=ticket_id,
            author_kind=message.pop("author_kind", "customer"),
            created_at=NOW,
            **message,
        )
    base: dict[str, Any] = {
        "id": ticket_id,
        "code": "T-000001",
        "subject": "Printer on fire",
        "status": "open",
        "channel": "email",
        "priority": "medium",
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW - timedelta(hours=1),
        "status_changed_at": NOW - timedelta(hours=5),
        "version": 1,
        "last_message": last_message,
    }
    return TicketSnapshot(**{**base, **fields})


def matches(
    condition: dict[str, Any],
    ticket: TicketSnapshot,
    changes: dict[str, Change] | None = None,
    now: datetime = NOW,
) -> bool:
    compiled = compile_python({"any": [{"all": [condition]}]}, custom_fields=CUSTOM_FIELDS)
    matched = compiled.matches(ticket, changes, now)
    # The trace comes from the same evaluator, so it reaches the same verdict.
    trace = compiled.explain(ticket, changes, now)
    assert trace.matched is matched is trace.groups[0].conditions[0].passed
    return matched


def cond(field: str, op: str, value: Any = None, unit: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        c["value"] = value
    if unit is not None:
        c["unit"] = unit
    return c


# -- text -------------------------------------------------------------------------------------

TEXT_CASES = [
    # (subject, condition, expected)
    ("Refund please", cond("subject", "is", "REFUND PLEASE"), True),
    ("Refund please", cond("subject", "is", "Refund"), False),
    ("Refund please", cond("subject", "is_not", "refund please"), False),
    ("Refund please", cond("subject", "is_not", "Refund"), True),
    ("Need a REFUND now", cond("subject", "contains", "refund"), True),
    ("Need a REFUND now", cond("subject", "contains", "refunds"), False),
    ("Need a REFUND now", cond("subject", "not_contains", "Refund"), False),
    ("Need a REFUND now", cond("subject", "not_contains", "invoice"), True),
    ("Re: Invoice", cond("subject", "starts_with", "re:"), True),
    ("Fwd: Re: Invoice", cond("subject", "starts_with", "re:"), False),
    ("Invoice 2026.PDF", cond("subject", "ends_with", ".pdf"), True),
    ("Invoice 2026.PDF", cond("subject", "ends_with", "2026"), False),
    ("Order #12345", cond("subject", "matches_regex", r"#\d{5}$"), True),
    ("Order #1234", cond("subject", "matches_regex", r"#\d{5}$"), False),
    ("order #12345", cond("subject", "matches_regex", "Order"), False),  # case-sensitive
    ("", cond("subject", "is_empty"), True),
    ("", cond("subject", "is_set"), False),
    ("x", cond("subject", "is_set"), True),
    # Unicode: full lowercase mapping, not ASCII-only.
    ("ÄRGER mit der Rechnung", cond("subject", "contains", "ärger"), True),
    ("İSTANBUL office", cond("subject", "contains", "i̇stanbul"), True),
    ("ΟΔΥΣΣΕΥΣ", cond("subject", "is", "οδυσσευσ"), True),  # final sigma folds to sigma
    ("ΟΔΥΣΣΕΥΣ", cond("subject", "ends_with", "ς"), True),
    ("Straße", cond("subject", "contains", "STRASSE"), False),  # lower(), not casefold()
    ("Straße", cond("subject", "contains", "STRAßE"), True),
    # LIKE wildcards in a needle are literal characters.
    ("50% off", cond("subject", "contains", "0% o"), True),
    ("500 off", cond("subject", "contains", "0% o"), False),
    ("a_b", cond("subject", "contains", "a_b"), True),
    ("axb", cond("subject", "contains", "a_b"), False),
]


@pytest.mark.parametrize(("subject", "condition", "expected"), TEXT_CASES)
def test_text_operators(subject: str, condition: dict[str, Any], expected: bool) -> None:
    assert matches(condition, snapshot(subject=subject)) is expected


@pytest.mark.parametrize(
    ("condition", "with_url", "without_url"),
    [
        (cond("referrer_url", "is", "https://x.io"), True, False),
        (cond("referrer_url", "is_not", "https://x.io"), False, True),
        (cond("referrer_url", "contains", "x.io"), True, False),
        (cond("referrer_url", "not_contains", "x.io"), False, True),
        (cond("referrer_url", "starts_with", "https"), True, False),
        (cond("referrer_url", "matches_regex", "x"), True, False),
        (cond("referrer_url", "is_set"), True, False),
        (cond("referrer_url", "is_empty"), False, True),
    ],
)
def test_a_missing_text_fails_positive_tests_and_passes_their_negations(
    condition: dict[str, Any], with_url: bool, without_url: bool
) -> None:
    assert matches(condition, snapshot(referrer_url="https://x.io")) is with_url
    assert matches(condition, snapshot(referrer_url=None)) is without_url


def test_message_fields_read_the_last_message() -> None:
    ticket = snapshot(
        message={
            "from_address": "Cleo@Example.com",
            "to": ["Support@Acme.io", "sales@acme.io"],
            "cc": [],
            "bcc": ["audit@acme.io"],
            "body": "The printer is on fire",
        }
    )
    assert matches(cond("from", "is", "cleo@example.com"), ticket)
    assert matches(cond("from", "ends_with", "@EXAMPLE.COM"), ticket)
    assert matches(cond("body", "contains", "ON FIRE"), ticket)
    assert matches(cond("to", "contains", "support@acme"), ticket)
    assert not matches(cond("to", "contains", "help@"), ticket)
    assert matches(cond("to", "not_contains", "help@"), ticket)
    assert matches(cond("cc", "is_empty"), ticket)
    assert matches(cond("bcc", "is_set"), ticket)
    without = snapshot()
    assert not matches(cond("from", "contains", "@"), without)
    assert matches(cond("from", "is_empty"), without)
    assert matches(cond("to", "is_empty"), without)
    assert matches(cond("to", "not_contains", "x"), without)
    assert matches(cond("body", "not_contains", "x"), without)


# -- enums, uuids, groups ---------------------------------------------------------------------


def test_enum_operators() -> None:
    ticket = snapshot(status="answered", priority="urgent", channel="chat")
    assert matches(cond("status", "is", "answered"), ticket)
    assert not matches(cond("status", "is_not", "answered"), ticket)
    assert matches(cond("status", "in", ["new", "answered"]), ticket)
    assert not matches(cond("status", "not_in", ["new", "answered"]), ticket)
    assert matches(cond("priority", "not_in", ["low"]), ticket)
    assert matches(cond("channel", "is", "chat"), ticket)
    assert matches(cond("status", "is_set"), ticket)
    assert not matches(cond("status", "is_empty"), ticket)


def test_sla_level_and_last_message_author_may_be_missing() -> None:
    assert matches(cond("sla_level", "is", "gold"), snapshot(sla_level="gold"))
    assert not matches(cond("sla_level", "is", "Gold"), snapshot(sla_level="gold"))
    assert matches(cond("sla_level", "is_not", "gold"), snapshot())
    assert matches(cond("sla_level", "not_in", ["gold"]), snapshot())
    assert matches(cond("sla_level", "is_empty"), snapshot())
    assert matches(
        cond("last_message_author", "is", "agent"), snapshot(last_message_author="agent")
    )
    assert not matches(cond("last_message_author", "in", ["customer", "agent"]), snapshot())


def test_agent_status_is_empty_without_an_agent() -> None:
    online = snapshot(agent_id=AGENT, agent_status="online")
    assert matches(cond("agent_status", "is", "online"), online)
    assert matches(cond("agent_status", "in", ["online", "away"]), online)
    unassigned = snapshot()
    assert not matches(cond("agent_status", "in", ["online", "away", "offline"]), unassigned)
    assert matches(cond("agent_status", "is_empty"), unassigned)
    assert matches(cond("agent_status", "is_not", "online"), unassigned)


def test_uuid_operators() -> None:
    ticket = snapshot(department_id=DEPT, agent_id=AGENT)
    assert matches(cond("department_id", "is", str(DEPT)), ticket)
    assert matches(cond("department_id", "is", str(DEPT).upper()), ticket)
    assert matches(cond("agent_id", "in", [str(OTHER), str(AGENT)]), ticket)
    assert matches(cond("agent_id", "not_in", [str(OTHER)]), ticket)
    assert matches(cond("agent_id", "is_set"), ticket)
    assert matches(cond("agent_id", "is_empty"), snapshot())
    assert matches(cond("agent_id", "is_not", str(AGENT)), snapshot())


def test_customer_group_membership() -> None:
    member = snapshot(customer_group_ids=[GROUP])
    assert matches(cond("customer_group", "is", str(GROUP)), member)
    assert not matches(cond("customer_group", "is_not", str(GROUP)), member)
    assert matches(cond("customer_group", "in", [str(OTHER), str(GROUP)]), member)
    assert matches(cond("customer_group", "not_in", [str(OTHER)]), member)
    assert matches(cond("customer_group", "is_set"), member)
    assert matches(cond("customer_group", "is_empty"), snapshot())


# -- booleans, tags ---------------------------------------------------------------------------


def test_booleans() -> None:
    deleted = snapshot(deleted_at=NOW - timedelta(days=1), status="deleted")
    assert matches(cond("deleted", "is_true"), deleted)
    assert matches(cond("deleted", "is_false"), snapshot())
    invited = snapshot(created_from_invitation=True)
    assert matches(cond("created_from_invitation", "is_true"), invited)
    assert not matches(cond("created_from_invitation", "is_false"), invited)


def test_tags() -> None:
    ticket = snapshot(tags=["vip", "billing"])
    assert matches(cond("tags", "has_tag", "vip"), ticket)
    assert not matches(cond("tags", "has_tag", "VIP"), ticket)  # tags are exact
    assert matches(cond("tags", "lacks_tag", "bug"), ticket)
    assert matches(cond("tags", "has_any", ["bug", "billing"]), ticket)
    assert not matches(cond("tags", "has_all", ["bug", "billing"]), ticket)
    assert matches(cond("tags", "has_all", ["vip", "billing"]), ticket)
    assert matches(cond("tags", "is_set"), ticket)
    assert matches(cond("tags", "is_empty"), snapshot())


# -- dates and relative time ------------------------------------------------------------------


def test_before_and_after() -> None:
    ticket = snapshot(created_at=datetime(2026, 1, 3, 12, 0, tzinfo=UTC))
    assert matches(cond("created_at", "before", "2026-01-04"), ticket)
    assert matches(cond("created_at", "after", "2026-01-03T11:59:59Z"), ticket)
    assert not matches(cond("created_at", "after", "2026-01-03T12:00:00Z"), ticket)
    assert not matches(cond("created_at", "before", "2026-01-03T12:00:00Z"), ticket)
    # Any offset: 13:00+01:00 is 12:00 UTC.
    assert not matches(cond("created_at", "after", "2026-01-03T13:00:00+01:00"), ticket)


def test_older_than_and_within_last_use_the_injected_now() -> None:
    replied = snapshot(last_agent_reply_at=NOW - timedelta(hours=48))
    older = cond("last_agent_reply_at", "older_than", 48, "hours")
    within = cond("last_agent_reply_at", "within_last", 2, "days")
    # Exactly 48 hours: within the last 2 days, not older than 48 hours.
    assert not matches(older, replied)
    assert matches(within, replied)
    later = NOW + timedelta(microseconds=1)
    assert matches(older, replied, now=later)
    assert not matches(within, replied, now=later)
    assert matches(cond("last_agent_reply_at", "older_than", 2879, "minutes"), replied)
    # A time in the future is not "within the last" anything.
    future = snapshot(last_agent_reply_at=NOW + timedelta(minutes=1))
    assert not matches(cond("last_agent_reply_at", "within_last", 1, "days"), future)
    # Missing: neither older nor within.
    never = snapshot()
    assert not matches(older, never)
    assert not matches(within, never)
    assert matches(cond("last_agent_reply_at", "is_empty"), never)


# -- custom fields ----------------------------------------------------------------------------


def test_custom_text_and_select_fields() -> None:
    ticket = snapshot(custom_fields={"note": "Call BACK", "plan": "Enterprise"})
    assert matches(cond("custom_fields.note", "contains", "back"), ticket)
    assert matches(cond("custom_fields.note", "is", "call back"), ticket)
    assert matches(cond("custom_fields.plan", "is", "Enterprise"), ticket)
    assert matches(cond("custom_fields.plan", "in", ["pro", "Enterprise"]), ticket)
    assert matches(cond("custom_fields.plan", "not_in", ["pro"]), ticket)
    assert matches(cond("custom_fields.plan", "is_empty"), snapshot())
    assert matches(cond("custom_fields.note", "not_contains", "x"), snapshot())


def test_custom_number_fields() -> None:
    ticket = snapshot(custom_fields={"score": 3})
    assert matches(cond("custom_fields.score", "eq", 3.0), ticket)
    assert matches(cond("custom_fields.score", "ne", 4), ticket)
    assert matches(cond("custom_fields.score", "gt", 2.5), ticket)
    assert matches(cond("custom_fields.score", "gte", 3), ticket)
    assert not matches(cond("custom_fields.score", "lt", 3), ticket)
    assert matches(cond("custom_fields.score", "lte", 3), ticket)
    assert not matches(cond("custom_fields.score", "gt", 0), snapshot())
    assert matches(cond("custom_fields.score", "ne", 0), snapshot())
    # A value of another type (the definition changed) counts as missing.
    assert matches(cond("custom_fields.score", "is_empty"), snapshot(custom_fields={"score": "3"}))


def test_custom_boolean_fields() -> None:
    assert matches(cond("custom_fields.vip", "is_true"), snapshot(custom_fields={"vip": True}))
    assert matches(cond("custom_fields.vip", "is_false"), snapshot(custom_fields={"vip": False}))
    assert matches(cond("custom_fields.vip", "is_false"), snapshot())
    assert matches(cond("custom_fields.vip", "is_empty"), snapshot())
    assert matches(cond("custom_fields.vip", "is_set"), snapshot(custom_fields={"vip": False}))


def test_custom_date_fields_stand_for_their_midnight_utc() -> None:
    due = snapshot(custom_fields={"due": "2026-01-02"})  # NOW is 2026-01-05 09:00 UTC
    assert matches(cond("custom_fields.due", "before", "2026-01-03"), due)
    assert not matches(cond("custom_fields.due", "before", "2026-01-02"), due)
    assert matches(cond("custom_fields.due", "after", "2026-01-01"), due)
    # Midnight of Jan 2 is 81 hours (3 days 9 hours) before NOW.
    assert matches(cond("custom_fields.due", "older_than", 3, "days"), due)
    assert matches(cond("custom_fields.due", "older_than", 80, "hours"), due)
    assert not matches(cond("custom_fields.due", "older_than", 81, "hours"), due)
    assert matches(cond("custom_fields.due", "within_last", 81, "hours"), due)
    assert not matches(cond("custom_fields.due", "within_last", 80, "hours"), due)
    assert not matches(cond("custom_fields.due", "within_last", 3, "days"), due)
    today = snapshot(custom_fields={"due": "2026-01-05"})
    assert matches(cond("custom_fields.due", "within_last", 9, "hours"), today)
    tomorrow = snapshot(custom_fields={"due": "2026-01-06"})
    assert not matches(cond("custom_fields.due", "within_last", 9, "hours"), tomorrow)


def test_custom_fields_need_definitions_to_compile() -> None:
    with pytest.raises(ConditionError) as raised:
        compile_python({"any": [{"all": [cond("custom_fields.note", "is_set")]}]})
    assert raised.value.issues[0].pointer == "conditions.any[0].all[0].field"
    assert "no custom field with key 'note'" in raised.value.issues[0].message


# -- groups -----------------------------------------------------------------------------------


def test_all_conditions_of_a_group_and_any_group() -> None:
    ticket = snapshot(status="open", priority="high", tags=["vip"])
    both = {"all": [cond("status", "is", "open"), cond("priority", "is", "high")]}
    one_fails = {"all": [cond("status", "is", "open"), cond("priority", "is", "low")]}
    vip = {"all": [cond("tags", "has_tag", "vip")]}
    nope = {"all": [cond("tags", "has_tag", "nope")]}
    assert compile_python({"any": [both]}).matches(ticket, None, NOW)
    assert not compile_python({"any": [one_fails]}).matches(ticket, None, NOW)
    assert compile_python({"any": [one_fails, vip]}).matches(ticket, None, NOW)
    assert not compile_python({"any": [one_fails, nope]}).matches(ticket, None, NOW)
    many = {"all": [cond("status", "is", "open")] * 3 + [cond("priority", "is", "high")]}
    assert compile_python({"any": [one_fails, nope, many]}).matches(ticket, None, NOW)


def test_an_empty_any_list_matches_every_ticket() -> None:
    compiled = compile_python({"any": []})
    assert compiled.matches(snapshot(), None, NOW)
    trace = compiled.explain(snapshot(), None, NOW)
    assert trace.matched
    assert trace.matches_everything


# -- changes of the triggering event ----------------------------------------------------------


def test_changed_ops_test_the_events_changes() -> None:
    ticket = snapshot(status="open", tags=["vip"])
    changes = {
        "status": Change(before="new", after="open"),
        "tags": Change(before=["billing"], after=["billing", "vip"]),
        "agent_id": Change(before=None, after=str(AGENT)),
        "subject": Change(before="Printer", after="PRINTER ON FIRE"),
        "custom_fields": Change(before={"score": 1}, after={"score": 2, "vip": True}),
        "deleted_at": Change(before=None, after=NOW.isoformat()),
    }
    assert matches(cond("status", "changed"), ticket, changes)
    assert matches(cond("status", "changed_to", "open"), ticket, changes)
    assert matches(cond("status", "changed_from", "new"), ticket, changes)
    assert not matches(cond("status", "changed_from", "open"), ticket, changes)
    assert not matches(cond("priority", "changed"), ticket, changes)
    assert matches(cond("tags", "changed_to", "vip"), ticket, changes)  # added
    assert not matches(cond("tags", "changed_to", "billing"), ticket, changes)  # kept
    assert not matches(cond("tags", "changed_from", "vip"), ticket, changes)
    assert matches(cond("agent_id", "changed_to", str(AGENT)), ticket, changes)
    assert matches(cond("agent_id", "changed_from", str(AGENT)), ticket, {}) is False
    assert matches(cond("subject", "changed_to", "printer on fire"), ticket, changes)
    assert matches(cond("custom_fields.score", "changed_to", 2), ticket, changes)
    assert matches(cond("custom_fields.vip", "changed_to", True), ticket, changes)
    assert not matches(cond("custom_fields.note", "changed"), ticket, changes)
    assert matches(cond("deleted", "changed_to", True), ticket, changes)
    # Without an event (a time rule), nothing changed.
    assert not matches(cond("status", "changed"), ticket, None)


def test_tags_removed_count_as_changed_from() -> None:
    changes = {"tags": Change(before=["vip", "bug"], after=["bug"])}
    assert matches(cond("tags", "changed_from", "vip"), snapshot(tags=["bug"]), changes)
    assert matches(cond("tags", "changed"), snapshot(tags=["bug"]), changes)
    reordered = {"tags": Change(before=["a", "b"], after=["b", "a"])}
    assert not matches(cond("tags", "changed"), snapshot(tags=["b", "a"]), reordered)


# -- the trace --------------------------------------------------------------------------------


def test_explain_reports_every_condition_with_actual_and_expected() -> None:
    ticket = snapshot(subject="Refund please", status="open", tags=["vip"])
    changes = {"status": Change(before="new", after="open")}
    compiled = compile_python(
        {
            "any": [
                {
                    "all": [
                        cond("subject", "contains", "invoice"),
                        cond("status", "is", "open"),
                    ]
                },
                {
                    "all": [
                        cond("status", "changed_to", "open"),
                        cond("created_at", "older_than", 1, "days"),
                    ]
                },
            ]
        }
    )
    trace = compiled.explain(ticket, changes, NOW)
    assert trace.matched is compiled.matches(ticket, changes, NOW) is True
    first, second = trace.groups
    assert not first.matched
    assert [c.passed for c in first.conditions] == [False, True]  # no short-circuit
    assert first.conditions[0].actual == "Refund please"
    assert first.conditions[0].expected == "invoice"
    assert first.conditions[0].pointer == "conditions.any[0].all[0]"
    assert second.matched
    assert second.conditions[0].actual == {"before": "new", "after": "open"}
    assert second.conditions[1].unit == "days"
    as_json = trace.as_dict()
    assert as_json["groups"][1]["conditions"][1] == {
        "pointer": "conditions.any[1].all[1]",
        "field": "created_at",
        "op": "older_than",
        "expected": 1,
        "unit": "days",
        "actual": (NOW - timedelta(days=2)).isoformat(),
        "passed": True,
    }


def test_explain_says_why_nothing_matched() -> None:
    compiled = compile_python({"any": [{"all": [cond("agent_status", "is", "online")]}]})
    trace = compiled.explain(snapshot(), None, NOW)
    assert not trace.matched
    assert trace.groups[0].conditions[0].actual is None
    assert not trace.groups[0].conditions[0].passed


def test_explain_needs_an_aware_now() -> None:
    compiled = compile_python({"any": []})
    with pytest.raises(ValueError, match="timezone-aware"):
        compiled.explain(snapshot(), None, datetime(2026, 1, 1))


# -- many rules at once -----------------------------------------------------------------------


def test_a_rule_set_gives_the_matching_rules_in_order() -> None:
    open_ = cond("status", "is", "open")
    vip = cond("tags", "has_tag", "vip")
    rules: list[dict[str, Any]] = [
        {"any": [{"all": [open_, vip]}]},
        {"any": [{"all": [cond("status", "is", "new")]}, {"all": [vip]}]},
        {"any": [{"all": [open_, cond("subject", "contains", "invoice")]}]},
        {"any": []},
        {"any": [{"all": [cond("status", "changed_to", "open")]}]},
    ]
    rule_set = compile_rule_set(rules)
    ticket = snapshot(status="open", tags=["vip"], subject="Printer")
    changes = {"status": Change(before="new", after="open")}
    assert rule_set.matching(ticket, changes, NOW) == [0, 1, 3, 4]
    assert rule_set.matching(ticket, None, NOW) == [0, 1, 3]
    assert rule_set.matching(snapshot(status="new"), None, NOW) == [1, 3]
    trace = rule_set.rules[2].explain(ticket, None, NOW)
    assert [c.passed for c in trace.groups[0].conditions] == [True, False]


def test_a_rule_set_reports_which_rule_is_invalid() -> None:
    rules: list[dict[str, Any]] = [
        {"any": []},
        {"any": [{"all": [cond("status", "is", "nope")]}]},
    ]
    with pytest.raises(ConditionError) as raised:
        compile_rule_set(rules)
    assert raised.value.issues[0].pointer == "rules[1].conditions.any[0].all[0].value"


@pytest.mark.parametrize(
    "value", ["') or True or ('", '" or True #', "{k0}", "\\", "\n", "__import__('os')"]
)
def test_values_are_data_never_code(value: str) -> None:
    """The predicate is generated Python; what a user writes must stay a value."""
    for op in ("is", "contains", "starts_with", "ends_with"):
        assert not matches(cond("subject", op, value), snapshot(subject="Printer"))
        assert matches(cond("subject", op, value), snapshot(subject=value))
    assert not matches(cond("sla_level", "in", [value]), snapshot(sla_level="gold"))
    assert matches(cond("tags", "has_tag", value), snapshot(tags=[value]))
