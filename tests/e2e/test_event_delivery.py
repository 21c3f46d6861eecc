"""Real ticket-api and relay processes: what clients change arrives on Kafka, complete, in
per-ticket order, through broker outages and relay crashes."""

import asyncio
import uuid
from collections import defaultdict

import httpx
import pytest
from helpdesk_devstack.broker import LocalBroker, ensure_topics
from helpdesk_devstack.ports import free_port
from helpdesk_events import TicketEventBase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import collect_events
from tests.e2e.helpers import http, post_ticket

pytestmark = pytest.mark.e2e


async def outbox_size(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM tickets.outbox")))
    finally:
        await engine.dispose()


async def create_tickets(client: httpx.AsyncClient, n: int, concurrency: int = 16) -> list[str]:
    ids: list[str] = []
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            created = await post_ticket(client, f"ticket {i}", f"c{i % 50}@example.com")
            ids.append(created["id"])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


async def test_changes_arrive_as_events_with_snapshots_in_order(
    suite, api_port, kafka_broker, topics
):
    suite.ticket_api(api_port).start()
    suite.relay().start()
    async with http(api_port) as client:
        dept = (await client.post("/v1/departments", json={"name": "Billing"})).json()
        agent = (
            await client.post(
                "/v1/agents",
                json={"name": "Ann", "email": "ann@example.com", "department_ids": [dept["id"]]},
            )
        ).json()
        ticket = await post_ticket(
            client,
            "Invoice wrong",
            "cleo@example.com",
            message={"body": "Hi"},
            headers={"X-Correlation-Id": str(uuid.uuid4())},
        )
        tid = ticket["id"]
        for step in (
            client.patch(f"/v1/tickets/{tid}", json={"status": "resolved"}),
            client.post(
                f"/v1/tickets/{tid}/transfer",
                json={"department_id": dept["id"], "agent_id": agent["id"]},
            ),
            client.post(f"/v1/tickets/{tid}/tags", json={"tags": ["billing"]}),
            client.post(
                f"/v1/tickets/{tid}/messages",
                json={"author_kind": "customer", "body": "Still wrong"},
            ),
        ):
            response = await step
            assert response.status_code in (200, 201), response.text
        # Other tickets changing at the same time must not disturb this one's order.
        others = await create_tickets(client, 40)
        for other in others[:20]:
            assert (
                await client.patch(f"/v1/tickets/{other}", json={"priority": "urgent"})
            ).status_code == 200

    events = await collect_events(kafka_broker.bootstrap_servers, topics.tickets, 6 + 40 + 20)
    assert len(events) == 66
    mine = [e for e in events if str(e.ticket_id) == tid]
    assert [e.type for e in mine] == [
        "ticket.created",
        "ticket.status_changed",
        "ticket.transferred",
        "ticket.tags_changed",
        "message.added",
        "ticket.status_changed",
    ]
    assert all(isinstance(e, TicketEventBase) for e in mine)
    created, resolved, transferred, tagged, message, reopened = mine
    assert created.ticket.status == "new" and created.message is not None
    assert created.ticket.customer_email == "cleo@example.com"
    assert (
        resolved.changes["status"].before == "new"
        and resolved.changes["status"].after == "resolved"
    )
    assert transferred.ticket.agent_id == uuid.UUID(agent["id"])
    assert transferred.ticket.agent_status == "offline"
    assert set(transferred.changes) == {"department_id", "agent_id"}
    assert tagged.ticket.tags == ["billing"]
    assert message.message.body == "Still wrong" and message.actor.kind == "customer"
    assert reopened.changes["status"].after == "open" and reopened.ticket.status == "open"
    assert reopened.correlation_id == message.correlation_id
    versions = [e.ticket.version for e in mine]
    assert versions == sorted(versions)

    by_ticket = defaultdict(list)
    for event in events:
        by_ticket[event.ticket_id].append(event.ticket.version)
    assert all(v == sorted(v) for v in by_ticket.values())

    agent_events = await collect_events(kafka_broker.bootstrap_servers, topics.agents, 1)
    assert [e.type for e in agent_events] == ["agent.created"]


async def test_writes_succeed_while_the_broker_is_down_and_events_follow(suite, api_port, tmp_path):
    broker = LocalBroker(free_port(), tmp_path / "outage-broker.log")
    await asyncio.to_thread(broker.start)
    try:
        await ensure_topics(broker.bootstrap_servers, [f"{suite.topic_prefix}helpdesk.tickets"], 3)
        suite.bootstrap_servers = broker.bootstrap_servers
        suite.ticket_api(api_port).start()
        suite.relay().start()
        await asyncio.to_thread(broker.kill)
        async with http(api_port) as client:
            written = await create_tickets(client, 30, concurrency=4)
        assert len(written) == 30
        assert await outbox_size(suite.database_url) >= 30
        await asyncio.to_thread(broker.start)
        await ensure_topics(broker.bootstrap_servers, [f"{suite.topic_prefix}helpdesk.tickets"], 3)
        events = await collect_events(
            broker.bootstrap_servers,
            f"{suite.topic_prefix}helpdesk.tickets",
            30,
            timeout=60,
            distinct=True,
        )
        assert {str(e.ticket_id) for e in events} == set(written)
        assert await outbox_size(suite.database_url) == 0
    finally:
        await asyncio.to_thread(broker.stop)


async def test_killing_the_relay_mid_stream_loses_nothing(suite, api_port, kafka_broker, topics):
    suite.ticket_api(api_port).start()
    async with http(api_port) as client:
        written = await create_tickets(client, 600)
    total = await outbox_size(suite.database_url)
    assert total == 600

    # Small batches and one polling connection: the kill lands well before the relay is
    # through, even on a busy machine.
    suite.relay("relay-1").env["TICKET_API_RELAY_BATCH_SIZE"] = "5"
    first = suite.processes[-1]
    engine = create_async_engine(suite.database_url)
    try:
        async with engine.connect() as conn:
            first.start()
            async with asyncio.timeout(30):
                while (
                    await conn.scalar(text("SELECT count(*) FROM tickets.outbox"))
                ) > total - 100:
                    await conn.commit()
                    await asyncio.sleep(0.01)
            first.kill()
    finally:
        await engine.dispose()
    left = await outbox_size(suite.database_url)
    assert 0 < left < total, "the relay was not killed mid-stream"

    suite.relay("relay-2").start()
    events = await collect_events(
        kafka_broker.bootstrap_servers, topics.tickets, total, timeout=60, distinct=True
    )
    assert {str(e.ticket_id) for e in events} == set(written)
    assert await outbox_size(suite.database_url) == 0
