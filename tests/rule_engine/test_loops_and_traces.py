"""Loop guard, depth limit, shadow mode, dry runs, traces, and bad rule definitions."""

import pytest

from tests.rule_engine.conftest import any_of, cond, make_rule


async def evaluations(rules, ticket_id, rule_id=None):
    params = {"rule_id": rule_id} if rule_id else {}
    return (await rules.get(f"/v1/tickets/{ticket_id}/evaluations", params=params)).json()["items"]


async def test_two_rules_that_undo_each_other_stop(api, client, rules, engine):
    a = await make_rule(
        rules,
        name="ping",
        trigger="tags_changed",
        conditions=any_of([cond("tags", "has_tag", "ping")]),
        actions=[{"type": "remove_tags", "tags": ["ping"]}, {"type": "add_tags", "tags": ["pong"]}],
    )
    await make_rule(
        rules,
        name="pong",
        trigger="tags_changed",
        conditions=any_of([cond("tags", "has_tag", "pong")]),
        actions=[{"type": "remove_tags", "tags": ["pong"]}, {"type": "add_tags", "tags": ["ping"]}],
    )
    created = await api.ticket()
    await engine.drain()
    await client.post(f"/v1/tickets/{created['id']}/tags", json={"tags": ["ping"]})
    await engine.drain()  # would raise if events kept flowing
    final = (await client.get(f"/v1/tickets/{created['id']}")).json()
    assert final["tags"] == ["ping"]
    outcomes = [
        r["outcome"] for e in await evaluations(rules, created["id"], a["id"]) for r in e["results"]
    ]
    assert outcomes.count("fired") == 1
    assert "already_fired" in outcomes


@pytest.mark.parametrize("max_depth", [2])
async def test_cascades_stop_at_the_depth_limit_and_say_so(api, client, rules, engine, max_depth):
    # Later steps come first in the order, so each step waits for the event of the one before
    # (rules further down the order would otherwise see the change within the same event).
    for n in range(1, 4):
        await make_rule(
            rules,
            name=f"step {n}",
            position=100 - 10 * n,
            trigger="tags_changed" if n > 1 else "ticket_created",
            conditions=any_of([cond("tags", "has_tag", f"s{n - 1}")])
            if n > 1
            else {"every_ticket": True},
            actions=[{"type": "add_tags", "tags": [f"s{n}"]}],
        )
    created = await api.ticket()
    await engine.drain()
    final = (await client.get(f"/v1/tickets/{created['id']}")).json()
    assert final["tags"] == ["s1", "s2"]
    stops = [
        r
        for e in await evaluations(rules, created["id"])
        for r in e["results"]
        if r["outcome"] == "depth_limit"
    ]
    assert "step 3" in [r["rule_name"] for r in stops]
    assert "limit 2" in stops[0]["reason"]


async def test_shadow_rules_record_without_acting(api, client, rules, engine):
    rule = await make_rule(
        rules,
        name="Would resolve",
        shadow=True,
        actions=[{"type": "resolve"}],
    )
    created = await api.ticket()
    await engine.drain()
    assert (await client.get(f"/v1/tickets/{created['id']}")).json()["status"] == "new"
    (evaluation,) = await evaluations(rules, created["id"], rule["id"])
    (result,) = evaluation["results"]
    assert result["outcome"] == "shadow"
    assert result["actions"]["ticket_actions"] == [{"type": "resolve"}]


async def test_trace_explains_why_a_rule_did_not_fire(api, rules, engine):
    rule = await make_rule(
        rules,
        name="VIP urgent",
        conditions=any_of([cond("priority", "is", "urgent"), cond("tags", "has_tag", "vip")]),
        actions=[{"type": "add_tags", "tags": ["escalate"]}],
    )
    created = await api.ticket(priority="high", tags=["vip"])
    await engine.drain()
    (evaluation,) = await evaluations(rules, created["id"], rule["id"])
    (result,) = evaluation["results"]
    assert result["outcome"] == "not_matched"
    assert evaluation["triggers"] == ["ticket_created", "ticket_created_from_email"]
    flat = repr(result["trace"])
    assert "urgent" in flat and "high" in flat  # the expected and the actual value


async def test_dry_run_against_a_ticket(api, rules):
    created = await api.ticket(subject="Refund please", priority="low")
    draft = {
        "name": "draft",
        "conditions": any_of([cond("subject", "contains", "refund")]),
        "actions": [
            {"type": "change_priority", "priority": "high"},
            {
                "type": "send_email",
                "to": ["boss@example.com"],
                "subject": "{{ ticket.code }}",
                "body": "b",
            },
        ],
    }
    response = await rules.post("/v1/rules/test", json={"rule": draft, "ticket_id": created["id"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["matched"] is True
    assert body["would_do"]["ticket_actions"] == [{"type": "set_priority", "priority": "high"}]
    assert body["would_do"]["outbound"][0]["subject"] == created["code"]
    missed = await rules.post(
        "/v1/rules/test",
        json={
            "rule": {**draft, "conditions": any_of([cond("subject", "contains", "invoice")])},
            "ticket_id": created["id"],
        },
    )
    assert missed.json()["matched"] is False and missed.json()["would_do"] is None


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"conditions": any_of([cond("subject", "contians", "x")])}, "conditions.any[0].all[0].op"),
        ({"conditions": any_of([cond("nonsense", "is", "x")])}, "conditions.any[0].all[0].field"),
        ({"trigger": "when_it_rains"}, "trigger"),
        ({"kind": "sla", "actions": [{"type": "resolve"}]}, "actions[0].type"),
        (
            {
                "actions": [
                    {"type": "send_email", "to": ["a@b.c"], "subject": "{{ oops", "body": "b"}
                ]
            },
            "actions[0].send_email.subject",
        ),
        ({"actions": [{"type": "purge"}, {"type": "add_tags", "tags": ["x"]}]}, "actions[0]"),
        (
            {"actions": [{"type": "call_url", "url": "ftp://example.com/x"}]},
            "actions[0].call_url.url",
        ),
        ({"actions": []}, "actions"),
    ],
)
async def test_bad_rules_get_422_with_a_pointer(rules, body, pointer):
    base = {"name": "bad", "conditions": {"every_ticket": True}, "actions": [{"type": "resolve"}]}
    response = await rules.post("/v1/rules", json={**base, **body})
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert pointer in fields, fields
    assert (await rules.get("/v1/rules")).json()["items"] == []


async def test_rules_api_needs_an_admin_key(rule_app, rules):
    import httpx

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(rule_app), base_url="http://r"
    ) as anonymous:
        assert (await anonymous.get("/v1/rules")).status_code == 401
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(rule_app),
        base_url="http://r",
        headers={"Authorization": "Bearer test-service-key"},
    ) as service:
        assert (
            await service.post("/v1/rules", json={"name": "x", "actions": [{"type": "resolve"}]})
        ).status_code == 403
        assert (await service.get("/v1/rules")).status_code == 200


@pytest.mark.parametrize("full_traces", [False, True])
async def test_traces_stored_or_recomputed(api, rules, engine, clock, full_traces):
    hit = await make_rule(
        rules,
        name="hit",
        conditions=any_of([cond("priority", "is", "high")]),
        actions=[{"type": "add_tags", "tags": ["x"]}],
    )
    miss = await make_rule(
        rules,
        name="miss",
        conditions=any_of([cond("priority", "is", "low")]),
        actions=[{"type": "add_tags", "tags": ["y"]}],
    )
    created = await api.ticket(priority="high")
    await engine.drain()
    (evaluation,) = [
        e for e in await evaluations(rules, created["id"]) if e["event_type"] == "ticket.created"
    ]
    by_rule = {r["rule_id"]: r for r in evaluation["results"]}
    assert by_rule[hit["id"]]["outcome"] == "fired" and by_rule[hit["id"]]["trace"]["matched"]
    missed = by_rule[miss["id"]]
    assert missed["outcome"] == "not_matched" and missed["trace"]["matched"] is False
    assert "high" in repr(missed["trace"]) and "low" in repr(missed["trace"])
    assert missed.get("trace_recomputed", False) is (not full_traces)
    if not full_traces:
        assert missed["rule_changed_since"] is False
        clock.advance(minutes=5)
        await rules.patch(f"/v1/rules/{miss['id']}", json={"notes": "edited"})
        (again,) = [
            e
            for e in await evaluations(rules, created["id"], miss["id"])
            if e["event_type"] == "ticket.created"
        ]
        assert again["results"][0]["rule_changed_since"] is True


@pytest.mark.parametrize("max_depth", [1])
async def test_at_the_depth_limit_a_rule_that_already_fired_says_so(
    api, client, rules, engine, max_depth
):
    tagger = await make_rule(
        rules,
        name="tagger",
        trigger="tags_changed",
        conditions={"every_ticket": True},
        actions=[{"type": "add_tags", "tags": ["tagged"]}],
    )
    created = await api.ticket()
    await engine.drain()
    await client.post(f"/v1/tickets/{created['id']}/tags", json={"tags": ["vip"]})
    await engine.drain()
    outcomes = [
        r["outcome"]
        for e in await evaluations(rules, created["id"], tagger["id"])
        for r in e["results"]
    ]
    assert sorted(outcomes) == ["already_fired", "fired"], outcomes


async def test_an_inactive_rule_shows_as_inactive_for_the_event(api, rules, engine):
    paused = await make_rule(
        rules, name="paused", active=False, actions=[{"type": "add_tags", "tags": ["p"]}]
    )
    other_trigger = await make_rule(
        rules,
        name="elsewhere",
        active=False,
        trigger="tags_changed",
        actions=[{"type": "add_tags", "tags": ["e"]}],
    )
    created = await api.ticket()
    await engine.drain()
    (evaluation,) = await evaluations(rules, created["id"], paused["id"])
    assert evaluation["results"] == [
        {
            "rule_name": "paused",
            "rule_id": paused["id"],
            "outcome": "inactive",
            "reason": "the rule was inactive when the event came",
        }
    ]
    # A rule the event would not have run even if active is not listed.
    assert await evaluations(rules, created["id"], other_trigger["id"]) == []
