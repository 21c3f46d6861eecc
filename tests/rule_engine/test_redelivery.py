"""The worker writes its processed mark with the event's outcome, after the write-back, in
autocommit mode (ConsumerRunner(dedupe="handler")). Redeliveries at every point must still
apply each change once and record each event once."""

from helpdesk_events import encode_event
from prometheus_client import REGISTRY
from sqlalchemy import text

from tests.rule_engine.conftest import any_of, cond, make_rule


async def one(engine, sql, **params):
    async with engine.pump._engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def redeliver(engine, topics, event):
    await engine.pump.deliver(topics.tickets, str(event.ticket_id).encode(), encode_event(event))


def duplicates() -> float:
    value = REGISTRY.get_sample_value(
        "consumer_events_skipped_total", {"consumer": "rule-engine", "reason": "duplicate"}
    )
    return value or 0.0


async def transfers(client, ticket_id):
    items = (await client.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
    return [h for h in items if h["action"] == "transferred"]


async def test_a_crash_after_the_write_back_before_the_outcome_is_recorded(
    api, client, rules, engine, topics
):
    """The claim and the write-back committed, the outcome did not: the redelivered event
    finds the claim is its own, the write-back replays, and the outcome is written once."""
    billing = await api.department("Billing")
    await make_rule(
        rules,
        name="to billing",
        conditions=any_of([cond("subject", "contains", "invoice")]),
        actions=[{"type": "transfer", "department_id": billing["id"]}],
    )
    created = await api.ticket(subject="Invoice missing")
    (event, *_) = await engine.drain()
    assert event.type == "ticket.created"
    # As if the worker died before its last statement: no mark, no evaluation.
    async with engine.pump._engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM rules.processed_event WHERE event_id = :e"), {"e": event.id}
        )
        await conn.execute(
            text("DELETE FROM rules.evaluation WHERE event_id = :e"), {"e": event.id}
        )
    await redeliver(engine, topics, event)
    assert len(await transfers(client, created["id"])) == 1
    items = (await rules.get(f"/v1/tickets/{created['id']}/evaluations")).json()["items"]
    (evaluation,) = [e for e in items if e["event_id"] == str(event.id)]
    assert [r["outcome"] for r in evaluation["results"]] == ["fired"]
    assert await one(engine, "SELECT count(*) FROM rules.rule_firing") == 1
    assert await one(engine, "SELECT count(*) FROM rules.processed_event WHERE event_id = :e",
                     e=event.id) == 1  # fmt: skip


async def test_a_processed_event_is_not_evaluated_again_by_newer_rules(
    api, client, rules, engine, topics
):
    created = await api.ticket(subject="Hello")
    (event, *_) = await engine.drain()
    await make_rule(rules, name="late", actions=[{"type": "add_tags", "tags": ["late"]}])
    before = duplicates()
    await redeliver(engine, topics, event)
    assert duplicates() == before + 1
    assert (await client.get(f"/v1/tickets/{created['id']}")).json()["tags"] == []
    assert await one(engine, "SELECT count(*) FROM rules.rule_firing") == 0
    # And one that fires nothing is recorded once.
    assert await one(engine, "SELECT count(*) FROM rules.evaluation WHERE event_id = :e",
                     e=event.id) == 0  # fmt: skip
    await make_rule(
        rules, name="quiet", conditions=any_of([cond("subject", "is", "nope")]),
        actions=[{"type": "add_tags", "tags": ["q"]}],
    )  # fmt: skip
    await api.ticket(subject="Hello again")
    (event2, *_) = await engine.drain()
    await redeliver(engine, topics, event2)
    assert await one(engine, "SELECT count(*) FROM rules.evaluation WHERE event_id = :e",
                     e=event2.id) == 1  # fmt: skip


async def test_another_event_of_the_same_origin_finds_the_rule_already_fired(
    api, client, rules, engine
):
    """The loop guard holds with claims that commit before the write-back: a claim made by
    another event of the same correlation id is not this event's."""
    await make_rule(
        rules,
        name="tag on tags",
        trigger="tags_changed",
        actions=[{"type": "add_tags", "tags": ["seen"]}],
    )
    created = await api.ticket()
    await engine.drain()
    await client.post(f"/v1/tickets/{created['id']}/tags", json={"tags": ["a"]})
    await engine.drain()
    tags = (await client.get(f"/v1/tickets/{created['id']}")).json()["tags"]
    assert sorted(tags) == ["a", "seen"]
    outcomes = [
        r["outcome"]
        for e in (await rules.get(f"/v1/tickets/{created['id']}/evaluations")).json()["items"]
        for r in e["results"]
    ]
    # Fired on the agent's change; its own change (same correlation id) finds the claim taken.
    assert sorted(outcomes) == ["already_fired", "fired"]
