"""The worker keeps the compiled rule set in memory and checks rule_set_version inside the
first statement it writes with an event: a rule saved, changed or deactivated between two
events applies to the second one, whichever path the event takes."""

from sqlalchemy import text

from tests.rule_engine.conftest import any_of, cond, make_rule
from tests.rule_engine.rule_builders import rule_on_priority


async def tags_of(client, ticket_id):
    return (await client.get(f"/v1/tickets/{ticket_id}")).json()["tags"]


async def evaluated_rules(rules, ticket_id, event_type):
    items = (await rules.get(f"/v1/tickets/{ticket_id}/evaluations")).json()["items"]
    return [
        (r["rule_name"], r["outcome"])
        for e in items
        if e["event_type"] == event_type
        for r in e["results"]
    ]


async def firings(engine, rule_id):
    async with engine.pump._engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT count(*) FROM rules.rule_firing WHERE rule_id = :r"), {"r": rule_id}
            )
        ).scalar()


async def test_a_rule_added_after_the_rule_set_was_cached_fires(api, client, rules, engine):
    await make_rule(rules, name="quiet", conditions=any_of([cond("subject", "is", "nope")]),
                    actions=[{"type": "add_tags", "tags": ["quiet"]}])  # fmt: skip
    first = await api.ticket()
    await engine.drain()  # the rule set is compiled and cached now
    assert await tags_of(client, first["id"]) == []
    await make_rule(rules, name="new", actions=[{"type": "add_tags", "tags": ["new"]}])
    second = await api.ticket()
    await engine.drain()
    assert await tags_of(client, second["id"]) == ["new"]
    assert ("new", "fired") in await evaluated_rules(rules, second["id"], "ticket.created")


async def test_a_rule_deactivated_after_caching_does_not_fire_and_shows_as_inactive(
    api, client, rules, engine
):
    rule = await make_rule(rules, name="tagger", actions=[{"type": "add_tags", "tags": ["t"]}])
    first = await api.ticket()
    await engine.drain()
    assert await tags_of(client, first["id"]) == ["t"]
    assert await firings(engine, rule["id"]) == 1
    # The cached rule set still says "tagger" matches every new ticket: the firing claim
    # finds the version moved, writes nothing, and the event is evaluated again.
    assert (await rules.patch(f"/v1/rules/{rule['id']}", json={"active": False})).status_code == 200
    second = await api.ticket()
    await engine.drain()
    assert await tags_of(client, second["id"]) == []
    assert await firings(engine, rule["id"]) == 1
    assert await evaluated_rules(rules, second["id"], "ticket.created") == [("tagger", "inactive")]


async def test_a_changed_condition_applies_when_nothing_fires(api, client, rules, engine):
    rule = await rule_on_priority(rules, "low only", "low", {"type": "add_tags", "tags": ["low"]})
    first = await api.ticket(priority="high")
    await engine.drain()
    assert await evaluated_rules(rules, first["id"], "ticket.created") == [
        ("low only", "not_matched")
    ]
    await rules.patch(f"/v1/rules/{rule['id']}", json={"name": "renamed"})
    second = await api.ticket(priority="high")
    await engine.drain()
    # Nothing fires, so the evaluation insert is the statement that notices the change.
    assert await evaluated_rules(rules, second["id"], "ticket.created") == [
        ("renamed", "not_matched")
    ]


async def test_a_rule_for_a_trigger_that_had_none_fires(api, client, rules, engine):
    await make_rule(rules, name="on create", conditions=any_of([cond("subject", "is", "nope")]),
                    actions=[{"type": "add_tags", "tags": ["x"]}])  # fmt: skip
    created = await api.ticket()
    await engine.drain()
    await client.patch(f"/v1/tickets/{created['id']}", json={"status": "open"})
    await engine.drain()  # status_changed: no candidates in the cached rule set
    await make_rule(
        rules,
        name="on status",
        trigger="status_changed",
        actions=[{"type": "add_tags", "tags": ["status"]}],
    )
    await client.patch(f"/v1/tickets/{created['id']}", json={"status": "resolved"})
    await engine.drain()
    assert await tags_of(client, created["id"]) == ["status"]
