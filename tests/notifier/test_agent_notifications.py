"""Agent notifications in the app: ticket-api's events, consumed by the notifier's handler
through the real ConsumerRunner, become notifications of the agent they concern, as the
agent's preferences allow; an agent reads and marks only their own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from helpdesk_events import Actor, ChatOffered, ManualClock, encode_event
from helpdesk_notifier.delivery.engine import DeliveryEngine
from helpdesk_notifier.handlers.tickets import handlers
from helpdesk_notifier.models import CONSUMER
from helpdesk_ticket_client import TicketApiClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, Api
from tests.notifier.conftest import Mailbox, Receiver
from tests.rule_engine.pump import Pump, pumping


@dataclass
class Agents:
    """The agents' side of the notifier: ticket-api's events delivered to its handlers, and
    its API as any agent."""

    api: Api
    deliver_events: Callable[..., Any]
    notifier_for: Callable[[str], httpx.AsyncClient]

    async def notifier_as(self, agent: dict[str, Any]) -> httpx.AsyncClient:
        return self.notifier_for(await self.api.agent_key(agent["id"]))

    async def assign(self, ticket: dict[str, Any], agent: dict[str, Any]) -> httpx.Response:
        """Transfer the ticket to the agent, as the admin."""
        return await self.api.client.post(
            f"/v1/tickets/{ticket['id']}/transfer", json={"agent_id": agent["id"]}
        )


@pytest.fixture
def agents(
    api: Api,
    ticket_events: Callable[..., Any],
    notifier_for: Callable[[str], httpx.AsyncClient],
) -> Agents:
    return Agents(api, ticket_events, notifier_for)


async def test_assignment_reply_and_preferences(
    api: Any, client: httpx.AsyncClient, agents: Agents
) -> None:
    support = await api.department("Support")
    alice = await api.agent([support["id"]], name="Alice")
    bob = await api.agent([support["id"]], name="Bob")
    as_alice = await agents.notifier_as(alice)
    as_bob = await agents.notifier_as(bob)
    as_admin = agents.notifier_for(ADMIN_KEY)

    ticket = await api.ticket(subject="Printer on fire")
    assigned = await agents.assign(ticket, alice)
    assert assigned.status_code < 300, assigned.text
    await agents.deliver_events()

    mine = (await as_alice.get("/v1/agents/me/notifications")).json()
    assert [(n["kind"], n["ticket_id"]) for n in mine] == [("assigned", ticket["id"])]
    assert "Printer on fire" in mine[0]["title"]
    assert (await as_bob.get("/v1/agents/me/notifications")).json() == []

    # Bob may not read Alice's list, nor mark her notifications
    forbidden = await as_bob.get(f"/v1/agents/{alice['id']}/notifications")
    assert forbidden.status_code == 403
    not_his = await as_bob.post(f"/v1/agents/me/notifications/{mine[0]['id']}/read")
    assert not_his.status_code == 404
    read = await as_alice.post(f"/v1/agents/me/notifications/{mine[0]['id']}/read")
    assert read.json()["read_at"] is not None
    assert (await as_alice.get("/v1/agents/me/notifications?unread=true")).json() == []
    # the admin sees anyone's
    assert len((await as_admin.get(f"/v1/agents/{alice['id']}/notifications")).json()) == 1

    # Alice turns customer replies off; the customer writes twice, she hears of neither
    defaults = (await as_alice.get("/v1/agents/me/preferences")).json()
    assert all(p["enabled"] == (p["channel"] == "in_app") for p in defaults)
    assert {p["channel"] for p in defaults} == {"in_app", "email", "slack", "push"}
    changed = await as_alice.put(
        "/v1/agents/me/preferences",
        json=[{"kind": "customer_replied", "channel": "in_app", "enabled": False}],
    )
    assert {(p["kind"], p["enabled"]) for p in changed.json()} >= {("customer_replied", False)}
    bad = await as_alice.put(
        "/v1/agents/me/preferences", json=[{"kind": "gossip", "channel": "in_app", "enabled": 1}]
    )
    assert bad.status_code == 422
    assert (await as_bob.put(f"/v1/agents/{alice['id']}/preferences", json=[])).status_code == 403
    reply = await client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author_kind": "customer", "body": "Still burning."},
    )
    assert reply.status_code < 300, reply.text
    await agents.deliver_events()
    kinds = [n["kind"] for n in (await as_alice.get("/v1/agents/me/notifications")).json()]
    assert "customer_replied" not in kinds

    # …and back on
    await as_alice.put(
        "/v1/agents/me/preferences",
        json=[{"kind": "customer_replied", "channel": "in_app", "enabled": True}],
    )
    await client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author_kind": "customer", "body": "Now smoking."},
    )
    await agents.deliver_events()
    kinds = [n["kind"] for n in (await as_alice.get("/v1/agents/me/notifications")).json()]
    assert kinds[0] == "customer_replied"


async def test_an_agent_is_not_told_of_their_own_assignment(
    api: Any, client_for: Callable[[str], httpx.AsyncClient], agents: Agents
) -> None:
    support = await api.department("Support")
    alice = await api.agent([support["id"]], name="Alice")
    key = await api.agent_key(alice["id"])
    ticket = await api.ticket(department_id=support["id"])
    taken = await client_for(key).post(
        f"/v1/tickets/{ticket['id']}/transfer", json={"agent_id": alice["id"]}
    )
    assert taken.status_code < 300, taken.text
    await agents.deliver_events()
    # she heard of the new ticket in her department, and nothing of taking it herself
    listed = (await agents.notifier_for(key).get("/v1/agents/me/notifications")).json()
    assert [n["kind"] for n in listed] == ["department_new"]


async def test_old_events_make_no_notification(
    api: Any, clock: ManualClock, agents: Agents
) -> None:
    alice = await api.agent(name="Alice")
    as_alice = await agents.notifier_as(alice)
    await agents.assign(await api.ticket(), alice)
    # the notifier reads the event long after it happened (deployed on a running suite)
    clock.advance(hours=2)
    await agents.deliver_events()
    assert (await as_alice.get("/v1/agents/me/notifications")).json() == []


async def test_slack_messages_go_out_as_deliveries(
    api: Any, agents: Agents, receiver: Receiver, deliveries: DeliveryEngine
) -> None:
    alice = await api.agent(name="Alice")
    as_alice = await agents.notifier_as(alice)
    refused = await as_alice.put("/v1/agents/me/channels/slack", json={"url": "http://10.0.0.1/"})
    assert refused.status_code == 422
    saved = await as_alice.put(
        "/v1/agents/me/channels/slack", json={"url": receiver.url("/slack/T1/B2")}
    )
    assert saved.status_code == 200, saved.text
    # Slack is off by default: nothing goes out until she turns it on
    await agents.assign(await api.ticket(subject="Printer on fire"), alice)
    await agents.deliver_events()
    assert await deliveries.run_due() == 0

    await as_alice.put(
        "/v1/agents/me/preferences",
        json=[{"kind": "assigned", "channel": "slack", "enabled": True}],
    )
    second = await api.ticket(subject="Toner everywhere")
    await agents.assign(second, alice)
    await agents.deliver_events()
    assert await deliveries.run_due() == 1
    [got] = receiver.requests
    assert got.path == "/slack/T1/B2"
    text = json.loads(got.body)["text"]
    assert text.startswith(second["code"]) and "Toner everywhere" in text
    # and in the app as well
    kinds = [n["kind"] for n in (await as_alice.get("/v1/agents/me/notifications")).json()]
    assert kinds == ["assigned", "assigned"]


async def test_push_goes_to_the_provider_for_agents_who_turned_it_on(
    api: Any,
    client: httpx.AsyncClient,
    db: AsyncEngine,
    clock: ManualClock,
    notifier_for: Callable[[str], httpx.AsyncClient],
    receiver: Receiver,
    deliveries: DeliveryEngine,
    ticket_api: TicketApiClient,
) -> None:
    alice = await api.agent(name="Alice")
    bob = await api.agent(name="Bob")
    await notifier_for(await api.agent_key(alice["id"])).put(
        "/v1/agents/me/preferences",
        json=[{"kind": "assigned", "channel": "push", "enabled": True}],
    )
    tickets = {}
    for agent in (alice, bob):
        ticket = await api.ticket()
        await client.post(f"/v1/tickets/{ticket['id']}/transfer", json={"agent_id": agent["id"]})
        tickets[agent["id"]] = ticket["id"]
    async with pumping(
        db,
        clock,
        name="notifier",
        topic="helpdesk.tickets",
        handlers=handlers(ticket_api, timedelta(hours=1), push_url=receiver.url("/push")),
        tables=CONSUMER,
    ) as pump:
        for topic, key, value in await pump.take_outbox("tickets"):
            await pump.deliver(topic, key, value)

    assert await deliveries.run_due() == 1
    [got] = receiver.requests
    pushed = json.loads(got.body)
    # only Alice turned push on
    assert (pushed["agent_id"], pushed["kind"], pushed["ticket_id"]) == (
        alice["id"],
        "assigned",
        tickets[alice["id"]],
    )
    assert "webhook-signature" in got.headers


async def test_department_wide_kinds_reach_the_departments_agents(
    api: Any,
    client: httpx.AsyncClient,
    client_for: Callable[[str], httpx.AsyncClient],
    agents: Agents,
) -> None:
    support = await api.department("Support")
    sales = await api.department("Sales")
    alice = await api.agent([support["id"]], name="Alice")
    bob = await api.agent([support["id"]], name="Bob")
    dave = await api.agent([sales["id"]], name="Dave")
    bob_key = await api.agent_key(bob["id"])
    inbox = {agent["id"]: await agents.notifier_as(agent) for agent in (alice, bob, dave)}

    async def kinds(agent: dict[str, Any]) -> list[tuple[str, str]]:
        listed = (await inbox[agent["id"]].get("/v1/agents/me/notifications")).json()
        return [(n["kind"], n["ticket_id"]) for n in reversed(listed)]

    unassigned = await api.ticket(department_id=support["id"], subject="Who takes this?")
    # Alice's own ticket: she hears "assigned", not also "new in your department"
    hers = await api.ticket(department_id=support["id"], agent_id=alice["id"])
    await agents.deliver_events()
    assert await kinds(alice) == [
        ("department_new", unassigned["id"]),
        ("assigned", hers["id"]),
    ]
    assert await kinds(bob) == [
        ("department_new", unassigned["id"]),
        ("department_new", hers["id"]),
    ]
    assert await kinds(dave) == []
    listed = (await inbox[bob["id"]].get("/v1/agents/me/notifications")).json()
    assert "Who takes this?" in listed[-1]["title"]

    # Bob resolves Alice's ticket and reopens it: Alice hears "reopened", Bob (who did
    # it) nothing, Sales nothing
    async with client_for(bob_key) as as_bob:
        for status in ("resolved", "open"):
            changed = await as_bob.patch(f"/v1/tickets/{hers['id']}", json={"status": status})
            assert changed.status_code == 200, changed.text
    await agents.deliver_events()
    assert (await kinds(alice))[-1] == ("reopened", hers["id"])
    assert len(await kinds(bob)) == 2
    assert await kinds(dave) == []
    # reopened by someone else, Bob hears of it as a ticket of his department
    for status in ("resolved", "open"):
        await client.patch(f"/v1/tickets/{hers['id']}", json={"status": status})
    await agents.deliver_events()
    assert (await kinds(bob))[-1] == ("department_reopened", hers["id"])


async def test_agent_email_channel(
    api: Any, agents: Agents, mailbox: Mailbox, deliveries: DeliveryEngine
) -> None:
    support = await api.department("Support")
    alice = await api.agent([support["id"]], name="Alice", email="alice@example.com")
    bob = await api.agent([support["id"]], name="Bob", email="bob@example.com")
    await (await agents.notifier_as(alice)).put(
        "/v1/agents/me/preferences",
        json=[
            {"kind": "assigned", "channel": "email", "enabled": True},
            {"kind": "department_new", "channel": "email", "enabled": True},
        ],
    )
    # e-mail is off by default: Bob gets none
    first = await api.ticket(department_id=support["id"], subject="Printer on fire")
    await agents.assign(first, alice)
    await agents.deliver_events()
    assert await deliveries.run_due() == 2
    got = sorted((message["To"], message["Subject"]) for _, message in mailbox.messages)
    assert got == [
        ("alice@example.com", f"{first['code']} assigned to you: Printer on fire"),
        ("alice@example.com", f"{first['code']} new in your department: Printer on fire"),
    ]
    assert all(envelope.rcpt_tos == ["alice@example.com"] for envelope, _ in mailbox.messages)
    assert bob["email"] not in {message["To"] for _, message in mailbox.messages}


async def test_a_ringing_chat_tells_the_agents_offered_it_who_want_to_hear(
    api: Any,
    clock: ManualClock,
    ticket_pump: Pump,
    agents: Agents,
) -> None:
    support = await api.department("Support")
    alice, bob, carol = [await api.agent([support["id"]], name=n) for n in ("A", "B", "C")]
    as_alice, as_bob, as_carol = [await agents.notifier_as(agent) for agent in (alice, bob, carol)]
    turned_off = await as_carol.put(
        "/v1/agents/me/preferences",
        json=[{"kind": "chat_ringing", "channel": "in_app", "enabled": False}],
    )
    assert turned_off.status_code == 200, turned_off.text
    offer_id = uuid.uuid4()
    # As the router publishes it: Bob, offline, was not offered the chat.
    ringing = ChatOffered(
        occurred_at=clock.now(),
        ticket_id=uuid.uuid4(),
        department_id=support["id"],
        offer_id=offer_id,
        offered_to=[alice["id"], carol["id"]],
        expires_at=clock.now() + timedelta(seconds=30),
        actor=Actor(kind="router", id="router", name="router (ring_all)"),
        correlation_id=offer_id,
    )
    await ticket_pump.deliver("helpdesk.tickets", ringing.partition_key(), encode_event(ringing))

    told = (await as_alice.get("/v1/agents/me/notifications")).json()
    assert [(n["kind"], n["ticket_id"]) for n in told] == [("chat_ringing", str(ringing.ticket_id))]
    assert (await as_bob.get("/v1/agents/me/notifications")).json() == []
    assert (await as_carol.get("/v1/agents/me/notifications")).json() == []
