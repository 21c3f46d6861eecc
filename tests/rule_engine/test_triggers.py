"""Every trigger sets off the rules written for it, and only those."""

import pytest

from tests.rule_engine.conftest import make_rule
from tests.rule_engine.rule_builders import send_email

TAG = [{"type": "add_tags", "tags": ["hit"]}]


async def tags_of(client, ticket_id):
    return (await client.get(f"/v1/tickets/{ticket_id}")).json()["tags"]


@pytest.mark.parametrize(
    ("trigger", "channel", "fires"),
    [
        ("ticket_created", "web_form", True),
        ("ticket_created_from_email", "email", True),
        ("ticket_created_from_email", "chat", False),
        ("offline_message_added", "offline_message", True),
        ("offline_message_added", "email", False),
    ],
)
async def test_creation_triggers(api, client, rules, engine, trigger, channel, fires):
    await make_rule(rules, trigger=trigger, actions=TAG)
    ticket = await api.ticket(channel=channel)
    await engine.drain()
    assert (await tags_of(client, ticket["id"]) == ["hit"]) is fires


async def test_status_changed(api, client, rules, engine):
    await make_rule(
        rules,
        trigger="status_changed",
        conditions={
            "any": [{"all": [{"field": "status", "op": "changed_to", "value": "resolved"}]}]
        },
        actions=TAG,
    )
    ticket = await api.ticket()
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == []
    await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "postponed"})
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == []
    await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"})
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == ["hit"]


async def test_ticket_transferred(api, client, rules, engine):
    dept = await api.department()
    await make_rule(rules, trigger="ticket_transferred", actions=TAG)
    ticket = await api.ticket()
    await engine.drain()
    await client.post(f"/v1/tickets/{ticket['id']}/transfer", json={"department_id": dept["id"]})
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == ["hit"]


async def test_customer_and_agent_replied_and_internal_notes(api, client, rules, engine):
    dept = await api.department()
    agent = await api.agent([dept["id"]])
    await make_rule(
        rules, trigger="customer_replied", actions=[{"type": "add_tags", "tags": ["customer"]}]
    )
    await make_rule(
        rules, trigger="agent_replied", actions=[{"type": "add_tags", "tags": ["agent"]}]
    )
    ticket = await api.ticket(department_id=dept["id"])
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == []
    await client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author_kind": "agent", "author_id": agent["id"], "internal": True, "body": "note"},
    )
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == []
    await client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author_kind": "agent", "author_id": agent["id"], "body": "Hi"},
    )
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == ["agent"]
    await client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"author_kind": "customer", "body": "Thanks"}
    )
    await engine.drain()
    assert await tags_of(client, ticket["id"]) == ["agent", "customer"]


async def test_agent_rated_and_tags_changed(api, client, rules, engine):
    await make_rule(
        rules,
        trigger="agent_rated",
        actions=[{"type": "add_tags", "tags": ["rated"]}],
    )
    await make_rule(
        rules,
        trigger="tags_changed",
        conditions={"any": [{"all": [{"field": "tags", "op": "has_tag", "value": "rated"}]}]},
        actions=[{"type": "change_priority", "priority": "high"}],
    )
    ticket = await api.ticket(priority="low")
    await engine.drain()
    await client.post(f"/v1/tickets/{ticket['id']}/ratings", json={"rating": "bad"})
    await engine.drain()
    now = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert now["tags"] == ["rated"]
    assert now["priority"] == "high", "a rule's change triggers the rules of the next trigger"


async def test_sla_breached(api, client, rules, engine, clock, topics):
    """The sla-tracker publishes sla.breached on helpdesk.sla; escalation rules react."""
    import uuid

    from helpdesk_events import Actor, SlaBreached, SlaTarget, TicketSnapshot, encode_event

    await make_rule(
        rules,
        trigger="sla_breached",
        conditions={
            "any": [{"all": [{"field": "priority", "op": "in", "value": ["high", "urgent"]}]}]
        },
        actions=[
            {"type": "change_priority", "priority": "urgent"},
            send_email("lead@example.com", subject="Late: {{ ticket.code }}", body="b"),
        ],
    )
    high = await api.ticket(priority="high")
    low = await api.ticket(priority="low")
    await engine.drain()
    for created in (high, low):
        snapshot = TicketSnapshot.model_validate(
            (await client.get(f"/v1/tickets/{created['id']}")).json()
        )
        event = SlaBreached(
            occurred_at=clock.now(),
            ticket_id=snapshot.id,
            ticket=snapshot,
            actor=Actor(kind="sla_tracker"),
            correlation_id=uuid.uuid4(),
            sla=SlaTarget(level="gold", target="first_response", due_at=clock.now()),
        )
        await engine.pump.deliver(topics.sla, event.partition_key(), encode_event(event))
    await engine.drain()
    assert (await client.get(f"/v1/tickets/{high['id']}")).json()["priority"] == "urgent"
    assert (await client.get(f"/v1/tickets/{low['id']}")).json()["priority"] == "low"
    (mail,) = [n["request"] for n in await engine.notifications()]
    assert mail["subject"] == f"Late: {high['code']}"
