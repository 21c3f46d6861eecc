"""A custom date field's value counts as a date only in the shape ticket-api stores
(YYYY-MM-DD, ASCII digits); anything else is a missing value, in both compilers."""

from __future__ import annotations

from typing import Any

import pytest
from helpdesk_conditions import compile_python, compile_sql
from helpdesk_ticket_api.models import Ticket
from sqlalchemy import insert, select

from .conftest import CUSTOM_FIELDS, NOW, TABLES
from .test_explain_agreement import snapshot_of, ticket_row

NOT_DATES = [
    "2026-1x-05",
    "2026-x1-05",
    "2026-01-0x",
    "x026-01-05",
    "2026/01/05",
    "2026-01-5",
    "2026-01-005",
    "2026-01-05T00:00",
    "\uff12\uff10\uff12\uff16-01-05",  # full-width digits: isdigit() yet not a date
    "2026-01-05 ",
    20260105,
    True,
]
CONDITIONS = [
    {"field": "custom_fields.due", "op": "is_set"},
    {"field": "custom_fields.due", "op": "before", "value": "2999-01-01"},
    {"field": "custom_fields.due", "op": "after", "value": "1000-01-01"},
    {"field": "custom_fields.due", "op": "older_than", "value": 1, "unit": "days"},
    {"field": "custom_fields.due", "op": "within_last", "value": 90, "unit": "days"},
]


def row(due: Any) -> dict[str, Any]:
    return {**ticket_row(None), "custom_fields": {"due": due}}


def python_matches(condition: dict[str, Any], due: Any) -> bool:
    compiled = compile_python({"any": [{"all": [condition]}]}, custom_fields=CUSTOM_FIELDS)
    ticket = snapshot_of(row(due), None)
    matched = compiled.matches(ticket, None, NOW)
    assert compiled.explain(ticket, None, NOW).matched == matched
    return matched


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: c["op"])
def test_a_real_date_counts(condition):
    assert python_matches(condition, "2026-01-01") is True


@pytest.mark.parametrize("value", NOT_DATES, ids=repr)
@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: c["op"])
def test_a_malformed_date_is_a_missing_value(condition, value):
    assert python_matches(condition, value) is False
    negated = {**condition, "op": "is_empty"} if condition["op"] == "is_set" else None
    if negated is not None:
        assert python_matches(negated, value) is True


async def test_the_sql_compiler_treats_them_alike(engine):
    rows = [row(value) for value in [*NOT_DATES, "2026-01-01"]]
    valid = rows[-1]["id"]
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.execute(insert(Ticket), rows)
            for condition in CONDITIONS:
                clause = compile_sql(
                    {"any": [{"all": [condition]}]}, TABLES, now=NOW, custom_fields=CUSTOM_FIELDS
                )
                found = await conn.execute(
                    select(Ticket.id).where(Ticket.id.in_([r["id"] for r in rows]), clause)
                )
                assert list(found.scalars()) == [valid], condition
        finally:
            await transaction.rollback()


# NOW is 2026-01-05 09:00 UTC: four days back is 2026-01-01 09:00, so the window of
# "within the last 4 days" opens with the first midnight after it, 2026-01-02, and closes
# with today. A date stands for its midnight UTC.
WINDOW_EDGES = [
    ("2026-01-01", {"older_than"}),
    ("2026-01-02", {"within_last"}),
    ("2026-01-05", {"within_last"}),
    ("2026-01-06", set()),
]


@pytest.mark.parametrize(("due", "matching"), WINDOW_EDGES)
async def test_both_compilers_put_a_window_edge_on_the_same_side(engine, due, matching):
    window = [
        {"field": "custom_fields.due", "op": op, "value": 4, "unit": "days"}
        for op in ("older_than", "within_last")
    ]
    ticket = row(due)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.execute(insert(Ticket), [ticket])
            for condition in window:
                clause = compile_sql(
                    {"any": [{"all": [condition]}]}, TABLES, now=NOW, custom_fields=CUSTOM_FIELDS
                )
                found = await conn.execute(
                    select(Ticket.id).where(Ticket.id == ticket["id"], clause)
                )
                expected = condition["op"] in matching
                assert (found.scalar() is not None) is expected, condition
                assert python_matches(condition, due) is expected, condition
        finally:
            await transaction.rollback()
