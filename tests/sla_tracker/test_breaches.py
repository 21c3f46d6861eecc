"""Warnings and breaches: fired by the scan within the due second, once per clock (two
scanners at once, a scanner killed half-way, repeated scans), carrying the ticket snapshot,
and escalated by the rule engine's sla_breached rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from helpdesk_devstack.broker import LocalBroker
from helpdesk_events import ConsumerRunner, EventProducer, ManualClock, OutboxRelay, Topics
from helpdesk_rule_engine.models import CONSUMER as RULE_CONSUMER
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_sla_tracker.breaches.scan import _claim, scan
from helpdesk_sla_tracker.main import create_app as create_sla_tracker
from helpdesk_sla_tracker.models import OUTBOX
from sqlalchemy import text

from tests.conftest import admin_client
from tests.rule_engine.conftest import make_rule
from tests.sla_tracker.conftest import BERLIN, Desk, Tracker, new_ticket
from tests.sla_tracker.test_clocks import berlin, set_status

MONDAY_NOON = datetime(2026, 12, 7, 12, tzinfo=BERLIN).astimezone(UTC)


async def run_scan(sla: httpx.AsyncClient, at: datetime | None = None) -> dict[str, Any]:
    body = {"at": at.isoformat()} if at else {}
    response = await sla.post("/v1/scan", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_due_clock_breaches_once_with_the_ticket(desk: Desk) -> None:
    ticket_id = await desk.ticket()
    await desk.tracker.drain()
    desk.clock.set(MONDAY_NOON - timedelta(seconds=1))
    assert (await run_scan(desk.sla))["breached"] == 0
    desk.clock.set(MONDAY_NOON)
    assert (await run_scan(desk.sla))["breached"] == 1
    assert (await run_scan(desk.sla))["breached"] == 0

    [event] = await desk.tracker.outbox()
    assert event["type"] == "sla.breached"
    assert event["ticket_id"] == ticket_id
    assert event["ticket"]["id"] == ticket_id
    assert event["actor"]["kind"] == "sla_tracker"
    assert event["sla"]["level"] == "pre-sales"
    assert event["sla"]["target"] == "first_response"
    assert datetime.fromisoformat(event["sla"]["due_at"]) == MONDAY_NOON
    [breached] = await desk.tracker.clocks(ticket_id)
    assert breached["late"] is True
    assert datetime.fromisoformat(breached["breached_at"]) == MONDAY_NOON


async def test_warning_before_the_breach_and_none_after(desk: Desk) -> None:
    level = {**desk.pre_sales["level"], "warning_minutes": 30}
    assert (await desk.sla.put("/v1/levels/pre-sales", json=level)).status_code == 200
    warned = await desk.ticket()
    await desk.tracker.drain()
    [open_clock] = await desk.tracker.clocks(warned)
    assert datetime.fromisoformat(open_clock["warn_at"]) == datetime.fromisoformat(
        berlin(7, 11, 30)
    )

    desk.clock.set(MONDAY_NOON - timedelta(minutes=30))
    assert (await run_scan(desk.sla)) | {"at": None} == {"at": None, "warned": 1, "breached": 0}
    desk.clock.set(MONDAY_NOON)
    assert (await run_scan(desk.sla)) | {"at": None} == {"at": None, "warned": 0, "breached": 1}
    assert [event["type"] for event in await desk.tracker.outbox()] == [
        "sla.warning",
        "sla.breached",
    ]

    # A scan that comes only after the due instant sends the breach, not a late warning.
    desk.clock.set(datetime(2026, 12, 11, 16, tzinfo=BERLIN).astimezone(UTC))
    late_scan = await desk.ticket()
    await desk.tracker.drain()
    desk.clock.set(datetime(2026, 12, 14, 13, tzinfo=BERLIN).astimezone(UTC))
    assert (await run_scan(desk.sla)) | {"at": None} == {"at": None, "warned": 0, "breached": 1}
    [late_clock] = await desk.tracker.clocks(late_scan)
    assert late_clock["breached_at"] is not None


async def test_paused_and_answered_clocks_do_not_breach(desk: Desk) -> None:
    paused = await desk.ticket()
    answered = await desk.ticket()
    await set_status(desk.client, paused, "postponed")
    response = await desk.client.post(
        f"/v1/tickets/{answered}/messages", json={"author_kind": "agent", "body": "On it"}
    )
    assert response.status_code == 201
    await desk.tracker.drain()
    desk.clock.set(MONDAY_NOON + timedelta(days=3))
    assert (await run_scan(desk.sla))["breached"] == 0


async def test_a_scan_cannot_run_ahead_of_now(sla: httpx.AsyncClient, clock: ManualClock) -> None:
    response = await sla.post(
        "/v1/scan", json={"at": (clock.now() + timedelta(hours=1)).isoformat()}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "at"


async def test_end_to_end_tests_may_scan_ahead_of_now(
    sla_app: Any,
    client: httpx.AsyncClient,
    pre_sales: dict[str, Any],
    tracker: Tracker,
    clock: ManualClock,
) -> None:
    """SLA_TRACKER_UNSAFE_SCAN_AHEAD_OF_NOW lets a scan fire what falls due later (the
    end-to-end test's way past a real minute); the default refuses it (above)."""
    ticket_id = await new_ticket(client, pre_sales)
    await tracker.drain()
    settings = sla_app.state.settings.model_copy(update={"unsafe_scan_ahead_of_now": True})
    ahead = create_sla_tracker(settings, clock=clock)
    async with (
        ahead.router.lifespan_context(ahead),
        admin_client(ahead, "sla-tracker") as scanning_ahead,
    ):
        early = await run_scan(scanning_ahead, MONDAY_NOON - timedelta(seconds=1))
        assert early["breached"] == 0
        assert (await run_scan(scanning_ahead, MONDAY_NOON))["breached"] == 1
    assert clock.now() < MONDAY_NOON
    [breached] = await tracker.clocks(ticket_id)
    assert datetime.fromisoformat(breached["breached_at"]) == MONDAY_NOON


async def test_two_scanners_at_once_fire_each_breach_once(
    desk: Desk, database_url: str, topics: Topics
) -> None:
    for _ in range(40):
        await desk.ticket()
    await desk.tracker.drain()
    engines = [
        make_engine(database_url, application_name=f"scanner-{n}", pool_size=2, max_overflow=0)
        for n in range(2)
    ]
    try:
        results = await asyncio.gather(
            *(scan(make_session_factory(db), topics, MONDAY_NOON, batch=3) for db in engines)
        )
    finally:
        for db in engines:
            await db.dispose()
    assert sum(result.breached for result in results) == 40
    events = await desk.tracker.outbox()
    assert len(events) == 40
    assert len({event["ticket_id"] for event in events}) == 40


async def test_a_scanner_killed_mid_scan_leaves_nothing_fired_twice_or_lost(
    desk: Desk, database_url: str, topics: Topics
) -> None:
    for _ in range(5):
        await desk.ticket()
    await desk.tracker.drain()
    db = make_engine(database_url, application_name="doomed-scanner", pool_size=2, max_overflow=0)
    sessions = make_session_factory(db)
    try:
        # A scanner claims every due clock and queues their events, then dies before
        # committing (kill -9: the server ends its backend and rolls the transaction back).
        doomed = sessions()
        await doomed.begin()
        assert await _claim(doomed, "breach", MONDAY_NOON, 100, topics) == 5
        pid = (await doomed.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.connect() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await doomed.invalidate()
        assert (await scan(sessions, topics, MONDAY_NOON)).breached == 5
        assert (await scan(sessions, topics, MONDAY_NOON)).breached == 0
    finally:
        await db.dispose()
    assert len(await desk.tracker.outbox()) == 5


async def test_an_escalation_rule_raises_the_priority_of_a_breached_ticket(
    desk: Desk, rules: httpx.AsyncClient, engine: Any, topics: Topics
) -> None:
    await make_rule(
        rules,
        trigger="sla_breached",
        conditions={
            "any": [{"all": [{"field": "priority", "op": "in", "value": ["low", "medium"]}]}]
        },
        actions=[{"type": "change_priority", "priority": "urgent"}],
    )
    ticket_id = await desk.ticket(priority="medium")
    await desk.tracker.drain()
    await engine.drain()
    desk.clock.set(MONDAY_NOON)
    assert (await run_scan(desk.sla))["breached"] == 1
    for topic, key, value in await desk.tracker.pump.take_outbox("sla"):
        assert topic == topics.sla
        await engine.pump.deliver(topic, key, value)
    ticket = (await desk.client.get(f"/v1/tickets/{ticket_id}")).json()
    assert ticket["priority"] == "urgent"
    history = (await desk.client.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
    assert any(
        entry["field"] == "priority"
        and entry["after"] == "urgent"
        and entry["actor"]["kind"] == "rule"
        for entry in history
    )


async def test_a_warning_rule_fires_on_sla_warning_through_the_broker(
    desk: Desk,
    rules: httpx.AsyncClient,
    engine: Any,
    topics: Topics,
    database_url: str,
    kafka_broker: LocalBroker,
) -> None:
    """The scan's sla.warning, published by the tracker's outbox relay on helpdesk.sla and
    read back from the broker by the rule engine's consumer, sets off sla_warning rules
    (and not sla_breached ones)."""
    medium = {"any": [{"all": [{"field": "priority", "op": "is", "value": "medium"}]}]}
    await make_rule(
        rules,
        trigger="sla_warning",
        conditions=medium,
        actions=[{"type": "change_priority", "priority": "high"}],
    )
    await make_rule(
        rules,
        trigger="sla_breached",
        conditions={"every_ticket": True},
        actions=[{"type": "add_tags", "tags": ["breached"]}],
    )
    level = {**desk.pre_sales["level"], "warning_minutes": 30}
    assert (await desk.sla.put("/v1/levels/pre-sales", json=level)).status_code == 200
    ticket_id = await desk.ticket(priority="medium")
    await desk.tracker.drain()
    await engine.drain()
    desk.clock.set(MONDAY_NOON - timedelta(minutes=30))
    assert (await run_scan(desk.sla))["warned"] == 1

    db = make_engine(database_url, application_name="sla-relay-test", pool_size=2)
    producer = EventProducer(kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        assert await OutboxRelay(db, OUTBOX, producer).publish_batch() == 1
    finally:
        await producer.stop()
        await db.dispose()

    rules_db = make_engine(database_url, application_name="rule-consumer-test", pool_size=2)
    consumer = ConsumerRunner(
        name=f"rule-engine-{topics.prefix}",
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topics=[topics.sla],
        handlers=engine.handler.handlers(),
        session_factory=make_session_factory(rules_db),
        tables=RULE_CONSUMER,
        clock=desk.clock,
        max_attempts=1,
        dedupe="handler",
    )
    await consumer.start()
    stop = asyncio.Event()
    consuming = asyncio.create_task(consumer.run(stop))

    async def raised() -> dict[str, Any] | None:
        ticket: dict[str, Any] = (await desk.client.get(f"/v1/tickets/{ticket_id}")).json()
        return ticket if ticket["priority"] == "high" else None

    try:
        # Waits for the broker's delivery, not for time to pass (the clock is manual).
        async with asyncio.timeout(30):
            while (ticket := await raised()) is None:
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await consuming
        await consumer.stop()
        await rules_db.dispose()
    assert ticket["tags"] == []
    history = (await desk.client.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
    assert [h["actor"]["kind"] for h in history if h["field"] == "priority"] == ["rule"]
