"""The ticket's SLA state written back to ticket-api: due date and late on the ticket as
its clock starts, pauses, resumes, goes late and closes; each state once, none for the
write-back's own event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from helpdesk_service.db import make_engine, make_session_factory
from helpdesk_sla_tracker.clocks.ticket_sla import StatesWritten, write_back_ticket_states
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import SERVICE_KEY
from tests.sla_tracker.conftest import Desk, Tracker, new_ticket
from tests.sla_tracker.test_breaches import MONDAY_NOON, run_scan
from tests.sla_tracker.test_clocks import reply, set_status


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url, application_name="sla-write-back", pool_size=2)
    yield make_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def ticket_api(ticket_api_url: str) -> AsyncIterator[TicketApiClient]:
    http = ticket_api_session(ticket_api_url)
    yield TicketApiClient(http, SERVICE_KEY)
    await http.close()


class WriteBack:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        ticket_api: TicketApiClient,
        tracker: Tracker,
        client: httpx.AsyncClient,
    ) -> None:
        self.sessions, self.ticket_api, self.tracker, self.client = (
            sessions,
            ticket_api,
            tracker,
            client,
        )

    async def run(self) -> StatesWritten:
        """Handle the events so far, write the states back, and handle the write-back's
        own events too."""
        await self.tracker.drain()
        result = await write_back_ticket_states(self.sessions, self.ticket_api)
        await self.tracker.drain()
        return result

    async def state(self, ticket_id: str) -> tuple[datetime | None, bool]:
        ticket = (await self.client.get(f"/v1/tickets/{ticket_id}")).json()
        due = ticket["sla_due_at"]
        return (datetime.fromisoformat(due) if due else None), ticket["sla_late"]


@pytest.fixture
def write_back(
    sessions: async_sessionmaker[AsyncSession],
    ticket_api: TicketApiClient,
    tracker: Tracker,
    client: httpx.AsyncClient,
) -> WriteBack:
    return WriteBack(sessions, ticket_api, tracker, client)


async def test_the_ticket_shows_its_clock_through_pause_resume_breach_and_reply(
    desk: Desk, write_back: WriteBack
) -> None:
    ticket_id = await desk.ticket()
    assert await write_back.state(ticket_id) == (None, False)
    assert (await write_back.run()).written == 1
    assert await write_back.state(ticket_id) == (MONDAY_NOON, False)
    # The write-back's own ticket.updated changed no clock: nothing new to write.
    assert (await write_back.run()).written == 0

    await set_status(desk.client, ticket_id, "postponed")
    assert (await write_back.run()).written == 1
    assert await write_back.state(ticket_id) == (None, False)
    await set_status(desk.client, ticket_id, "open")
    await write_back.run()
    assert await write_back.state(ticket_id) == (MONDAY_NOON, False)

    desk.clock.set(MONDAY_NOON)
    assert (await run_scan(desk.sla))["breached"] == 1
    assert (await write_back.run()).written == 1
    assert await write_back.state(ticket_id) == (MONDAY_NOON, True)
    desk.clock.set(MONDAY_NOON + timedelta(minutes=5))
    await reply(desk.client, ticket_id)
    await write_back.run()
    assert await write_back.state(ticket_id) == (None, True)

    history = (await desk.client.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
    late = [h for h in history if h["field"] == "sla_late"]
    assert [(h["after"], h["actor"]["kind"]) for h in late] == [(True, "sla_tracker")]


async def test_a_next_response_clock_starts_the_ticket_on_time_again(
    desk: Desk, write_back: WriteBack
) -> None:
    ticket_id = await desk.ticket()
    desk.clock.set(MONDAY_NOON + timedelta(hours=1))
    await reply(desk.client, ticket_id)
    await write_back.run()
    assert await write_back.state(ticket_id) == (None, True)
    await reply(desk.client, ticket_id, author="customer")
    await write_back.run()
    due, late = await write_back.state(ticket_id)
    assert (due is not None, late) == (True, False)


async def test_a_state_sent_twice_is_applied_once(
    client: httpx.AsyncClient,
    pre_sales: dict[str, Any],
    write_back: WriteBack,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ticket_id = await new_ticket(client, pre_sales)
    await write_back.run()
    version = (await client.get(f"/v1/tickets/{ticket_id}")).json()["version"]
    # A second scanner that sent the same state before the first marked it written.
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE sla.ticket_state SET sla_written_stamp = 0"))
    assert (await write_back.run()).written == 1
    assert (await client.get(f"/v1/tickets/{ticket_id}")).json()["version"] == version


async def test_ticket_api_down_keeps_the_state_for_the_next_round(
    client: httpx.AsyncClient,
    pre_sales: dict[str, Any],
    write_back: WriteBack,
    tracker: Tracker,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ticket_id = await new_ticket(client, pre_sales)
    await tracker.drain()
    http = ticket_api_session("http://127.0.0.1:9")
    try:
        down = await write_back_ticket_states(sessions, TicketApiClient(http, SERVICE_KEY))
    finally:
        await http.close()
    assert down == StatesWritten()
    assert (await write_back.run()).written == 1
    assert (await write_back.state(ticket_id))[0] == MONDAY_NOON
