"""Nothing a client sends makes the rule API or the condition search answer 5xx.

A valid rule definition is broken one place at a time, every place in turn: each value
replaced by each of a list of odd ones (the wrong type, a huge number, a NUL character, a
template or a regex meant to hurt), each key dropped, one key added. Every broken body
goes to every endpoint that takes one: creating a rule, changing it, a dry run, and a
ticket search with the rule's conditions. Each answer must be a success or a 4xx in the
suite's error format."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.rule_engine.conftest import any_of, cond, make_rule

VALID: dict[str, Any] = {
    "name": "Billing",
    "trigger": "ticket_created",
    "active": True,
    "conditions": any_of(
        [cond("subject", "contains", "billing"), cond("priority", "is", "high")],
        [cond("tags", "has_tag", "vip"), cond("subject", "matches_regex", "^re: .*")],
        [cond("created_at", "older_than", 2, unit="hours")],
    ),
    "actions": [
        {"type": "add_tags", "tags": ["billing"]},
        {
            "type": "send_email",
            "to": ["a@example.com"],
            "subject": "{{ ticket.code }}",
            "body": "x",
        },
        {"type": "call_url", "url": "https://example.com/hook"},
    ],
}
ODD_VALUES: list[Any] = [
    None, 0, -1, 10**30, 1.5, 1e308, "", "x" * 5000, "\u0000", "é", True, [], [1], {}, {"a": 1},
    "{{ 7 * 7 }}", "{% for x in range(10**9) %}{% endfor %}", "{{ ticket.__class__ }}",
    "(a+)+$", "[", "2026-13-45", "P1D",
]  # fmt: skip
OK = {200, 201}
REFUSED = {400, 404, 409, 413, 422}


def places(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (the root excluded)."""
    if at:
        yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, (*at, index))


_DROP = object()  # stands for "the key left out"


def broken_bodies() -> Iterator[dict[str, Any]]:
    """VALID with one place changed: each place to each odd value, and each key dropped."""
    for where in places(VALID):
        for value in [*ODD_VALUES, _DROP]:
            body = copy.deepcopy(VALID)
            parent: Any = body
            for step in where[:-1]:
                parent = parent[step]
            if value is _DROP:
                if not isinstance(parent, dict):
                    continue
                del parent[where[-1]]
            else:
                parent[where[-1]] = value
            yield body
    yield {**VALID, "unexpected": 1}


def check(response: httpx.Response, what: str, body: Any) -> None:
    assert response.status_code in OK | REFUSED, (what, body, response.text[:500])
    if response.status_code in REFUSED:
        error = response.json()["error"]
        assert error["code"] and error["message"], (what, body, response.text[:500])


@pytest.mark.parametrize("what", ["create", "change", "dry run", "search"])
async def test_broken_rules_never_get_a_server_error(api, client, rules, what):
    rule = await make_rule(rules, **VALID)
    ticket = await api.ticket(subject="billing question", priority="high")
    answered: set[int] = set()
    for body in broken_bodies():
        if what == "create":
            response = await rules.post("/v1/rules", json=body)
        elif what == "change":
            response = await rules.patch(f"/v1/rules/{rule['id']}", json=body)
        elif what == "dry run":
            response = await rules.post(
                "/v1/rules/test", json={"rule": body, "ticket_id": ticket["id"]}
            )
        else:
            response = await client.post(
                "/v1/tickets/search", json={"conditions": body.get("conditions"), "limit": 5}
            )
        check(response, what, body)
        answered.add(response.status_code)
    # Some broken bodies are refused, and some are still acceptable.
    assert answered & REFUSED and answered & OK, answered


async def test_an_incomplete_ticket_in_a_dry_run_is_refused_field_by_field(rules):
    response = await rules.post(
        "/v1/rules/test", json={"rule": VALID, "ticket": {"subject": "billing", "version": 1}}
    )
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert {"ticket.id", "ticket.code", "ticket.created_at"} <= fields
    assert "errors.pydantic.dev" not in response.text
