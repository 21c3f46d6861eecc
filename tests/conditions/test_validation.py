"""Validation: every mistake is reported with a pointer to it and what to write instead."""

from __future__ import annotations

from typing import Any

import pytest
from helpdesk_conditions import (
    CHANNELS,
    PRIORITIES,
    SOCIAL_CHANNELS,
    STATUSES,
    ConditionError,
    ConditionSet,
    CustomField,
    parse_conditions,
    validate_conditions,
)
from helpdesk_ticket_api.db import Base
from pydantic import BaseModel, ValidationError

from .conftest import CUSTOM_FIELDS


def one(condition: dict[str, Any]) -> dict[str, Any]:
    return {"any": [{"all": [condition]}]}


def issues(data: Any, custom_fields: Any = CUSTOM_FIELDS) -> list[tuple[str, str]]:
    return [(i.pointer, i.message) for i in validate_conditions(data, custom_fields=custom_fields)]


def test_value_lists_are_ticket_apis() -> None:
    """Conditions accept exactly the values ticket-api's database accepts."""
    checks = {
        c.name: str(c.sqltext)
        for c in Base.metadata.tables["tickets.ticket"].constraints
        if hasattr(c, "sqltext")
    }
    for column, values in (("status", STATUSES), ("priority", PRIORITIES)):
        (check,) = [text for name, text in checks.items() if f"{column}_valid" in str(name)]
        assert all(f"'{v}'" in check for v in values)
        assert check.count("'") == 2 * len(values)
    assert set(SOCIAL_CHANNELS) < set(CHANNELS)


def test_a_valid_set_has_no_issues() -> None:
    data = {
        "any": [
            {"all": [{"field": "subject", "op": "contains", "value": "refund"}]},
            {
                "all": [
                    {"field": "status", "op": "in", "value": ["new", "open"]},
                    {"field": "last_customer_message_at", "op": "older_than", "value": 48}
                    | {"unit": "hours"},
                    {"field": "custom_fields.plan", "op": "is", "value": "pro"},
                ]
            },
        ]
    }
    assert issues(data) == []
    assert issues({"any": []}) == []


def test_an_unknown_operator_points_at_op_and_lists_the_fields_operators() -> None:
    data = {
        "any": [
            {"all": [{"field": "status", "op": "is", "value": "new"}]},
            {"all": [{"field": "subject", "op": "contians", "value": "refund"}]},
        ]
    }
    assert issues(data) == [
        (
            "conditions.any[1].all[0].op",
            '"contians" is not an operator for field subject (text); use one of: is, is_not, '
            "contains, not_contains, starts_with, ends_with, matches_regex, is_set, is_empty, "
            "changed, changed_to, changed_from",
        )
    ]


def test_an_operator_of_another_type_is_refused() -> None:
    [(pointer, message)] = issues(one({"field": "tags", "op": "contains", "value": "vip"}))
    assert pointer == "conditions.any[0].all[0].op"
    assert message.startswith('"contains" is not an operator for field tags (tags); use one of:')
    assert "has_tag" in message
    [(pointer, message)] = issues(one({"field": "created_at", "op": "gt", "value": 1}))
    assert "before, after, older_than, within_last" in message


def test_an_unknown_field_suggests_the_closest() -> None:
    [(pointer, message)] = issues(one({"field": "subjct", "op": "is", "value": "x"}))
    assert pointer == "conditions.any[0].all[0].field"
    assert message.startswith('"subjct" is not a field (did you mean "subject"?); use one of:')
    assert message.endswith("or custom_fields.<key>")


def test_custom_fields_are_checked_against_their_definitions() -> None:
    [(pointer, message)] = issues(one({"field": "custom_fields.nope", "op": "is", "value": "x"}))
    assert pointer == "conditions.any[0].all[0].field"
    assert message == "no custom field with key 'nope'; defined keys: due, note, plan, score, vip"
    [(pointer, message)] = issues(one({"field": "custom_fields.score", "op": "contains"}))
    assert pointer == "conditions.any[0].all[0].op"
    assert "custom number" in message
    [(pointer, message)] = issues(one({"field": "custom_fields.plan", "op": "is", "value": "x"}))
    assert pointer == "conditions.any[0].all[0].value"
    assert message == "expected one of free, pro, Enterprise for custom_fields.plan, got 'x'"
    [(pointer, message)] = issues(one({"field": "custom_fields.Bad Key", "op": "is_set"}))
    assert "lowercase letters" in message


def test_without_definitions_custom_fields_are_checked_as_far_as_possible() -> None:
    lenient = one({"field": "custom_fields.anything", "op": "is", "value": 5})
    assert validate_conditions(lenient) == []
    [issue] = validate_conditions(one({"field": "custom_fields.x", "op": "nope"}))
    assert issue.pointer == "conditions.any[0].all[0].op"
    # Strict with an empty list of definitions: no custom field exists.
    [issue] = validate_conditions(lenient, custom_fields=[])
    assert issue.message == "no custom field with key 'anything'; defined keys: none"


@pytest.mark.parametrize(
    ("condition", "where", "message"),
    [
        (
            {"field": "status", "op": "is", "value": "opne"},
            "value",
            "expected one of new, open, answered, resolved, postponed, spam, deleted, chatting, "
            "calling for status, got 'opne'",
        ),
        ({"field": "status", "op": "in", "value": []}, "value", "expected a non-empty list"),
        ({"field": "status", "op": "in", "value": "new"}, "value", "expected a non-empty list"),
        ({"field": "subject", "op": "contains", "value": ""}, "value", "non-empty string"),
        ({"field": "subject", "op": "contains"}, "value", "contains needs a value"),
        ({"field": "subject", "op": "is_set", "value": "x"}, "value", "is_set takes no value"),
        ({"field": "subject", "op": "is", "value": "x" * 1001}, "value", "longer than 1000"),
        ({"field": "agent_id", "op": "is", "value": "not-a-uuid"}, "value", "expected a UUID"),
        (
            {"field": "created_at", "op": "before", "value": "2026-01-31T09:00:00"},
            "value",
            "has no time zone",
        ),
        ({"field": "created_at", "op": "after", "value": "yesterday"}, "value", "expected a date"),
        ({"field": "created_at", "op": "older_than", "value": 2}, "unit", "needs a unit"),
        (
            {"field": "created_at", "op": "older_than", "value": 1.5, "unit": "days"},
            "value",
            "whole number",
        ),
        (
            {"field": "created_at", "op": "older_than", "value": 40_000, "unit": "days"},
            "unit",
            "more than 36600 days",
        ),
        (
            {"field": "created_at", "op": "before", "value": "2026-01-01", "unit": "days"},
            "unit",
            "only older_than and within_last take a unit",
        ),
        (
            {"field": "created_at", "op": "within_last", "value": 2, "unit": "weeks"},
            "unit",
            "Input should be 'minutes', 'hours' or 'days'",
        ),
        ({"field": "custom_fields.score", "op": "gt", "value": "3"}, "value", "finite number"),
        ({"field": "custom_fields.score", "op": "gt", "value": True}, "value", "finite number"),
        ({"field": "custom_fields.due", "op": "before", "value": "2026-02-30"}, "value", "date"),
        ({"field": "tags", "op": "has_any", "value": ["ok", ""]}, "value", "non-empty"),
        ({"field": "tags", "op": "has_tag", "value": "x" * 51}, "value", "longer than 50"),
        ({"field": "deleted", "op": "changed_to", "value": "yes"}, "value", "true or false"),
        ({"field": "subject", "op": "matches_regex", "value": "(a"}, "value", "missing )"),
        (
            {"field": "body", "op": "matches_regex", "value": r"(\w+) \1"},
            "value",
            "backreferences are not supported at position 6",
        ),
        (
            {"field": "body", "op": "matches_regex", "value": "(?=x)"},
            "value",
            "no lookaround",
        ),
        ({"field": "body", "op": "matches_regex", "value": "x" * 301}, "value", "longer than 300"),
        ({"field": "body", "op": "changed"}, "op", "its changes are not part of ticket events"),
        ({"field": "created_at", "op": "changed_to", "value": "x"}, "op", "not part of ticket"),
        ({"field": "last_agent_reply_at", "op": "changed_to", "value": "x"}, "op", "use changed"),
    ],
)
def test_value_and_unit_problems_point_at_what_is_wrong(
    condition: dict[str, Any], where: str, message: str
) -> None:
    [(pointer, text)] = issues({"any": [{"all": [{"field": "status", "op": "is_set"}, condition]}]})
    assert pointer == f"conditions.any[0].all[1].{where}"
    assert message in text


def test_structure_problems_point_at_the_group_or_key() -> None:
    assert issues({"any": [{"all": []}]}) == [
        (
            "conditions.any[0].all",
            "a group needs at least one condition "
            '(to match every ticket, write {"every_ticket": true})',
        )
    ]
    pointers = [p for p, _ in issues({"any": [{"al": []}]})]
    assert pointers == ["conditions.any[0].all", "conditions.any[0].al"]
    pointers = [p for p, _ in issues({"any": [{"all": [{"field": "status"}]}]})]
    assert pointers == ["conditions.any[0].all[0].op"]
    assert [p for p, _ in issues([])] == ["conditions"]
    too_many = {"any": [{"all": [{"field": "tags", "op": "is_set"}]}] * 51}
    assert issues(too_many) == [("conditions.any", "at most 50 groups")]


def test_several_problems_are_all_reported() -> None:
    data = {
        "any": [
            {"all": [{"field": "status", "op": "is", "value": "x"}]},
            {"all": [{"field": "nope", "op": "is"}, {"field": "tags", "op": "has_tag"}]},
        ]
    }
    assert [p for p, _ in issues(data)] == [
        "conditions.any[0].all[0].value",
        "conditions.any[1].all[0].field",
        "conditions.any[1].all[1].value",
    ]


def test_pointers_can_be_rooted_elsewhere() -> None:
    [issue] = validate_conditions(
        one({"field": "status", "op": "nope"}), root="rules[3].conditions"
    )
    assert issue.pointer == "rules[3].conditions.any[0].all[0].op"


def test_parse_raises_a_condition_error_with_every_issue() -> None:
    with pytest.raises(ConditionError) as raised:
        parse_conditions(one({"field": "status", "op": "nope"}))
    assert str(raised.value).startswith('conditions.any[0].all[0].op: "nope" is not an operator')
    assert raised.value.issues[0].as_detail() == {
        "field": "conditions.any[0].all[0].op",
        "message": raised.value.issues[0].message,
        "type": "invalid_condition",
    }


class RuleIn(BaseModel):
    name: str
    conditions: ConditionSet


def test_inside_a_pydantic_body_errors_carry_the_location() -> None:
    """What FastAPI turns into a 422: the location ends at the offending key."""
    with pytest.raises(ValidationError) as raised:
        RuleIn.model_validate(
            {"name": "r", "conditions": one({"field": "subject", "op": "contians", "value": "x"})}
        )
    [error] = raised.value.errors()
    assert error["loc"] == ("conditions", "any", 0, "all", 0, "op")
    assert error["type"] == "invalid_condition"
    assert error["msg"].startswith('"contians" is not an operator for field subject (text)')


def test_definitions_can_come_through_the_validation_context() -> None:
    data = {"name": "r", "conditions": one({"field": "custom_fields.vip", "op": "is_true"})}
    RuleIn.model_validate(data, context={"custom_fields": [CustomField("vip", "boolean")]})
    with pytest.raises(ValidationError, match="no custom field with key 'vip'"):
        RuleIn.model_validate(data, context={"custom_fields": []})


def test_a_condition_set_round_trips_through_json() -> None:
    data = one({"field": "created_at", "op": "within_last", "value": 3, "unit": "days"})
    parsed = ConditionSet.model_validate(data)
    assert ConditionSet.model_validate_json(parsed.model_dump_json()) == parsed
    assert not parsed.uses_changes
    assert ConditionSet.model_validate(one({"field": "status", "op": "changed"})).uses_changes


def test_every_ticket_is_the_explicit_match_all() -> None:
    from helpdesk_conditions import EVERY_TICKET, parse_conditions

    assert parse_conditions(EVERY_TICKET).any == []
    assert issues({"every_ticket": False}) == [
        ("conditions", 'to match every ticket, write {"every_ticket": true} alone')
    ]
    assert issues({"every_ticket": True, "any": []}) == [
        ("conditions", 'to match every ticket, write {"every_ticket": true} alone')
    ]
