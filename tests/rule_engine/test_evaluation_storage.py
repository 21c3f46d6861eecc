"""How evaluations are stored: rules that did not match as their ids (16 bytes each), names
and ticket versions, every other outcome as a JSON entry with its place in evaluation
order, and the endpoint puts them back together (rows written in the older all-JSON form
included)."""

import uuid
from datetime import UTC, datetime

import orjson
from helpdesk_rule_engine.models import not_matched_ids
from sqlalchemy import text

from tests.rule_engine.rule_builders import rule_on_priority


async def stored(engine, ticket_id, event_type):
    async with engine.pump._engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT results, not_matched, not_matched_names, not_matched_versions "
                    "FROM rules.evaluation WHERE ticket_id = :t AND event_type = :e"
                ),
                {"t": ticket_id, "e": event_type},
            )
        ).one()


async def test_not_matched_rules_are_arrays_and_come_back_in_order(api, client, rules, engine):
    before = await rule_on_priority(rules, "before", "low", {"type": "add_tags", "tags": ["b"]})
    hit = await rule_on_priority(
        rules, "hit", "high", {"type": "change_priority", "priority": "urgent"}
    )
    after = await rule_on_priority(rules, "after", "high", {"type": "add_tags", "tags": ["a"]})
    created = await api.ticket(priority="high")
    await engine.drain()
    ticket = (await client.get(f"/v1/tickets/{created['id']}")).json()
    assert ticket["priority"] == "urgent" and ticket["tags"] == []

    row = await stored(engine, created["id"], "ticket.created")
    # Only the rule that fired is JSON; "after" saw the ticket "hit" left (one version later).
    assert [(r["rule_name"], r["index"], r["outcome"]) for r in row.results] == [
        ("hit", 1, "fired")
    ]
    assert [str(i) for i in not_matched_ids(row.not_matched)] == [before["id"], after["id"]]
    assert row.not_matched_names == ["before", "after"]
    first = row.results[0]["ticket_version"]
    assert row.not_matched_versions == [first, first + 1]

    items = (await rules.get(f"/v1/tickets/{created['id']}/evaluations")).json()["items"]
    (evaluation,) = [e for e in items if e["event_type"] == "ticket.created"]
    results = evaluation["results"]
    assert [(r["rule_name"], r["kind"], r["outcome"]) for r in results] == [
        ("before", "action", "not_matched"),
        ("hit", "action", "fired"),
        ("after", "action", "not_matched"),
    ]
    assert all("index" not in r for r in results)
    # "after" was checked against the urgent ticket: its recomputed trace shows that value.
    assert "urgent" in repr(results[2]["trace"]) and results[2]["trace_recomputed"] is True
    assert results[2]["ticket_version"] == first + 1

    # Filtering by rule finds the rule in either form.
    for rule, outcome in ((after, "not_matched"), (hit, "fired")):
        filtered = (
            await rules.get(
                f"/v1/tickets/{created['id']}/evaluations", params={"rule_id": rule["id"]}
            )
        ).json()["items"]
        assert [r["outcome"] for e in filtered for r in e["results"]] == [outcome]


async def test_a_deleted_rule_keeps_its_name_without_a_trace(api, rules, engine):
    gone = await rule_on_priority(rules, "soon gone", "low", {"type": "add_tags", "tags": ["x"]})
    created = await api.ticket(priority="high")
    await engine.drain()
    assert (await rules.delete(f"/v1/rules/{gone['id']}")).status_code == 204
    items = (
        await rules.get(f"/v1/tickets/{created['id']}/evaluations", params={"rule_id": gone["id"]})
    ).json()["items"]
    (result,) = items[0]["results"]
    assert result["rule_name"] == "soon gone" and result["outcome"] == "not_matched"
    assert result["kind"] is None and result["trace"] is None
    assert result["trace_recomputed"] is False


async def test_rows_in_the_older_all_json_form_are_read_as_before(api, client, rules, engine):
    rule = await rule_on_priority(rules, "legacy", "low", {"type": "add_tags", "tags": ["x"]})
    created = await api.ticket(priority="high")
    snapshot = (await client.get(f"/v1/tickets/{created['id']}")).json()
    results = [
        {
            "rule_id": rule["id"],
            "rule_name": "legacy",
            "kind": "action",
            "ticket_version": snapshot["version"],
            "outcome": "not_matched",
            "reason": "no condition group held",
        },
        {
            "rule_id": str(uuid.uuid4()),
            "rule_name": "other",
            "kind": "sla",
            "outcome": "skipped",
            "reason": "stopped by rule 'x'",
        },
    ]
    async with engine.pump._engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO rules.evaluation (event_id, event_type, ticket_id, correlation_id, "
                "depth, triggers, results, tickets, changes, evaluated_at) VALUES (:e, "
                "'ticket.created', :t, :e, 0, ARRAY['ticket_created'], "
                "CAST(:r AS jsonb), CAST(:tk AS jsonb), '{}', :at)"
            ),
            {
                "e": uuid.uuid4(),
                "t": created["id"],
                "r": orjson.dumps(results).decode(),
                "tk": orjson.dumps({str(snapshot["version"]): snapshot}).decode(),
                "at": datetime.now(UTC),
            },
        )
    items = (await rules.get(f"/v1/tickets/{created['id']}/evaluations")).json()["items"]
    (legacy,) = items
    assert [(r["rule_name"], r["kind"], r["outcome"]) for r in legacy["results"]] == [
        ("legacy", "action", "not_matched"),
        ("other", "sla", "skipped"),
    ]
    assert "high" in repr(legacy["results"][0]["trace"])


async def test_rule_names_with_array_syntax_are_stored_as_written(api, rules, engine):
    """The worker sends the not-matched arrays as PostgreSQL array literals: quotes,
    backslashes, commas, braces and NULL-looking names must come back unchanged."""
    names = ['say "hi", {now}', "back\\slash", "NULL", " spaced ", "ünïcode ✓"]
    for name in names:
        await rule_on_priority(rules, name, "low", {"type": "add_tags", "tags": ["x"]})
    created = await api.ticket(priority="high")
    await engine.drain()
    row = await stored(engine, created["id"], "ticket.created")
    assert row.not_matched_names == [n.strip() for n in names]
    assert len(not_matched_ids(row.not_matched)) == len(names) == len(row.not_matched_versions)
