"""Response clocks from ticket events: the seed example end to end through ticket-api's
events, replies achieving or missing, next responses, chat and call targets, pauses, stops
and reopening, level changes on open clocks, and redelivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock

from tests.conftest import Api
from tests.sla_tracker.conftest import BERLIN, Desk, Tracker, calendar_body, new_ticket


def berlin(day: int, hour: int, minute: int = 0) -> str:
    """An instant in December 2026, Berlin time, as the API writes it (UTC)."""
    instant = datetime(2026, 12, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)
    return instant.isoformat().replace("+00:00", "Z")


def same_instant(api_value: str | None, expected: str) -> bool:
    assert api_value is not None
    return datetime.fromisoformat(api_value) == datetime.fromisoformat(expected)


async def reply(client: httpx.AsyncClient, ticket_id: str, author: str = "agent") -> None:
    response = await client.post(
        f"/v1/tickets/{ticket_id}/messages", json={"author_kind": author, "body": "Hello"}
    )
    assert response.status_code == 201, response.text


async def set_status(client: httpx.AsyncClient, ticket_id: str, status: str) -> None:
    response = await client.patch(f"/v1/tickets/{ticket_id}", json={"status": status})
    assert response.status_code == 200, response.text


async def test_seed_first_response_due_monday_noon(
    client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker
) -> None:
    ticket_id = await new_ticket(client, pre_sales)
    [clock] = await tracker.clocks(ticket_id)
    assert clock["kind"] == "first_response"
    assert clock["state"] == "running"
    assert (clock["level"], clock["level_version"], clock["calendar_version"]) == (
        "pre-sales",
        1,
        1,
    )
    assert same_instant(clock["due_at"], berlin(7, 12))


async def test_seed_with_monday_a_holiday_due_tuesday_noon(
    sla: httpx.AsyncClient, client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker
) -> None:
    calendar_id = pre_sales["calendar"]["id"]
    holiday = calendar_body(holidays=[{"date": "2026-12-07", "name": "Company day"}])
    assert (await sla.put(f"/v1/calendars/{calendar_id}", json=holiday)).status_code == 200
    ticket_id = await new_ticket(client, pre_sales)
    [clock] = await tracker.clocks(ticket_id)
    assert same_instant(clock["due_at"], berlin(8, 12))
    assert clock["calendar_version"] == 2

    # A level that does not exclude holidays counts that Monday: a new version, and the
    # open clock moves to it.
    level = {**pre_sales["level"], "exclude_holidays": False}
    assert (await sla.put("/v1/levels/pre-sales", json=level)).status_code == 200
    [clock] = await tracker.clocks(ticket_id)
    assert same_instant(clock["due_at"], berlin(7, 12))
    assert clock["level_version"] == 2
    assert [entry["reason"] for entry in clock["history"]] == [
        "started",
        "level pre-sales version 2",
    ]


async def test_reply_in_time_achieves_and_late_reply_misses(
    client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker, clock: ManualClock
) -> None:
    in_time = await new_ticket(client, pre_sales)
    late = await new_ticket(client, pre_sales)
    await tracker.drain()
    clock.set(datetime(2026, 12, 7, 10, 30, tzinfo=BERLIN).astimezone(UTC))
    await reply(client, in_time)
    clock.set(datetime(2026, 12, 7, 13, tzinfo=BERLIN).astimezone(UTC))
    await reply(client, late)

    [achieved] = await tracker.clocks(in_time)
    assert (achieved["state"], achieved["late"]) == ("achieved", False)
    assert achieved["business_minutes"] == 60 + 90
    assert same_instant(achieved["closed_at"], berlin(7, 10, 30))
    [missed] = await tracker.clocks(late)
    assert (missed["state"], missed["late"]) == ("missed", True)
    assert missed["business_minutes"] == 60 + 240


async def test_later_customer_message_starts_a_next_response_clock(
    client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker, clock: ManualClock
) -> None:
    ticket_id = await new_ticket(client, pre_sales)
    clock.advance(timedelta(minutes=30))
    await reply(client, ticket_id)
    clock.set(datetime(2026, 12, 7, 9, 15, tzinfo=BERLIN).astimezone(UTC))
    await reply(client, ticket_id, author="customer")
    # A second customer message while the response is owed starts nothing new.
    await reply(client, ticket_id, author="customer")
    # A note does not answer the customer.
    note = {"author_kind": "agent", "internal": True, "body": "looking"}
    assert (await client.post(f"/v1/tickets/{ticket_id}/messages", json=note)).status_code == 201

    first, following = await tracker.clocks(ticket_id)
    assert (first["kind"], first["state"]) == ("first_response", "achieved")
    assert (following["kind"], following["state"]) == ("next_response", "running")
    # 8 business hours from Monday 09:15: 7 h 45 on Monday, 15 minutes on Tuesday.
    assert same_instant(following["due_at"], berlin(8, 9, 15))


@pytest.mark.parametrize(
    ("channel", "kind", "minutes"), [("chat", "chat_response", 5), ("call", "call_response", 2)]
)
async def test_chat_and_call_tickets_use_their_targets(
    client: httpx.AsyncClient,
    pre_sales: dict[str, Any],
    tracker: Tracker,
    clock: ManualClock,
    channel: str,
    kind: str,
    minutes: int,
) -> None:
    clock.set(datetime(2026, 12, 7, 10, tzinfo=BERLIN).astimezone(UTC))
    ticket_id = await new_ticket(client, pre_sales, channel=channel)
    [response] = await tracker.clocks(ticket_id)
    assert response["kind"] == kind
    assert response["target_minutes"] == minutes
    assert same_instant(response["due_at"], berlin(7, 10, minutes))


async def test_waiting_on_the_customer_pauses_and_reopening_resumes(
    client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker, clock: ManualClock
) -> None:
    ticket_id = await new_ticket(client, pre_sales)  # Friday 16:00, due Monday 12:00
    clock.set(datetime(2026, 12, 4, 16, 30, tzinfo=BERLIN).astimezone(UTC))
    await set_status(client, ticket_id, "postponed")
    [paused] = await tracker.clocks(ticket_id)
    assert (paused["state"], paused["due_at"]) == ("paused", None)

    # Back on Monday 10:00: 30 business minutes were used, 210 remain.
    clock.set(datetime(2026, 12, 7, 10, tzinfo=BERLIN).astimezone(UTC))
    await set_status(client, ticket_id, "open")
    [running] = await tracker.clocks(ticket_id)
    assert running["state"] == "running"
    assert same_instant(running["due_at"], berlin(7, 13, 30))


async def test_resolving_stops_and_reopening_resumes(
    client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker, clock: ManualClock
) -> None:
    ticket_id = await new_ticket(client, pre_sales)
    clock.set(datetime(2026, 12, 4, 17, tzinfo=BERLIN).astimezone(UTC))
    await set_status(client, ticket_id, "resolved")
    [stopped] = await tracker.clocks(ticket_id)
    assert (stopped["state"], stopped["due_at"], stopped["closed_at"]) == ("stopped", None, None)

    clock.set(datetime(2026, 12, 8, 9, tzinfo=BERLIN).astimezone(UTC))
    await reply(client, ticket_id, author="customer")  # the customer writes again: reopened
    [resumed] = await tracker.clocks(ticket_id)
    assert resumed["state"] == "running"
    assert same_instant(resumed["due_at"], berlin(8, 12))

    assert (await client.delete(f"/v1/tickets/{ticket_id}")).status_code in (200, 204)
    [deleted] = await tracker.clocks(ticket_id)
    assert deleted["state"] == "stopped"


async def test_changing_the_ticket_level_recomputes_the_open_clock(
    sla: httpx.AsyncClient, client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker
) -> None:
    assert (await sla.put("/v1/levels/vip", json={"first_response_minutes": 60})).status_code == 201
    ticket_id = await new_ticket(client, pre_sales)
    await tracker.drain()
    response = await client.patch(f"/v1/tickets/{ticket_id}", json={"sla_level": "vip"})
    assert response.status_code == 200, response.text
    [clock] = await tracker.clocks(ticket_id)
    # Around the clock: an hour after Friday 16:00.
    assert (clock["level"], clock["calendar_version"]) == ("vip", None)
    assert same_instant(clock["due_at"], berlin(4, 17))
    assert clock["history"][-1]["reason"] == "ticket level changed"


async def test_a_level_edit_leaves_closed_clocks_as_they_were(desk: Desk) -> None:
    closed = await desk.ticket()
    still_open = await desk.ticket()
    await desk.tracker.drain()
    desk.clock.advance(timedelta(minutes=20))
    await reply(desk.client, closed)
    await desk.tracker.drain()
    level = {**desk.pre_sales["level"], "first_response_minutes": 30}
    assert (await desk.sla.put("/v1/levels/pre-sales", json=level)).status_code == 200

    [kept] = await desk.tracker.clocks(closed)
    assert (kept["level_version"], kept["target_minutes"], kept["state"]) == (1, 240, "achieved")
    [moved] = await desk.tracker.clocks(still_open)
    assert (moved["level_version"], moved["target_minutes"]) == (2, 30)
    assert same_instant(moved["due_at"], berlin(4, 16, 30))


async def test_a_ticket_without_a_level_gets_no_clock_until_a_rule_sets_one(
    client: httpx.AsyncClient, sla: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker
) -> None:
    ticket = await Api(client).ticket()
    assert await tracker.clocks(ticket["id"]) == []
    # An SLA rule's write-back sets the level: the first response is owed from creation.
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json={
            "actor": {"kind": "sla_rule", "id": "1"},
            "actions": [{"type": "set_sla_level", "sla_level": "pre-sales"}],
        },
        headers={"Idempotency-Key": "test:sla-rule:1"},
    )
    assert response.status_code == 200, response.text
    [clock] = await tracker.clocks(ticket["id"])
    assert same_instant(clock["due_at"], berlin(7, 12))


async def test_a_redelivered_event_starts_no_second_clock(
    client: httpx.AsyncClient, pre_sales: dict[str, Any], tracker: Tracker
) -> None:
    ticket_id = await new_ticket(client, pre_sales)
    batch = await tracker.pump.take_outbox()
    for topic, key, value in [*batch, *batch]:
        await tracker.pump.deliver(topic, key, value)
    assert len(await tracker.clocks(ticket_id)) == 1
