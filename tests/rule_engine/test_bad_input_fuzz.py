"""Nothing a client sends makes the rule API or the condition search answer 5xx.

A valid rule definition is broken one place at a time, every place in turn
(tests/fuzzing.py). Every broken body goes to every endpoint that takes one: creating a rule, changing it, a dry run, and a
ticket search with the rule's conditions. Each answer must be a success or a 4xx in the
suite's error format."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fuzzing import OK, REFUSED, broken_bodies, check
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


@pytest.mark.parametrize("what", ["create", "change", "dry run", "search"])
async def test_broken_rules_never_get_a_server_error(api, client, rules, what):
    rule = await make_rule(rules, **VALID)
    ticket = await api.ticket(subject="billing question", priority="high")
    answered: set[int] = set()
    for body in broken_bodies(VALID):
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
