"""The ticker's loop on a ManualClock: what falls due between two ticks is held after the
first and fired at the instant it falls due (within a second, never before), through the
same claim → write-back → settle path as a tick; a ticket changed while held is stale and
left to the next tick. Preview and tick for an instant are unchanged by the holding."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from helpdesk_events import ManualClock
from helpdesk_scheduler.ticks.episodes import FIRING_PRECISION
from helpdesk_scheduler.ticks.ticker import tick_until_stopped

from tests.scheduler.conftest import firings, preview, tag_after_minutes, time_rule_history

INTERVAL = 60.0
MINUTE = timedelta(minutes=1)


class Ticking:
    """The ticker's loop in process, on its own ManualClock (only the loop sleeps on it,
    so ``next_wake`` is the loop's next tick or held instant); ``move_to`` moves it and
    the services' clock together."""

    def __init__(self, clock: ManualClock, services_clock: ManualClock) -> None:
        self.clock = clock
        self._services_clock = services_clock

    async def next_wake(self) -> datetime:
        return await asyncio.wait_for(self.clock.next_wake(), 30)

    def move_to(self, instant: datetime) -> None:
        self._services_clock.set(instant)
        self.clock.set(instant)


@asynccontextmanager
async def ticking(scheduler_app: Any, services_clock: ManualClock) -> AsyncIterator[Ticking]:
    loop_clock = ManualClock(services_clock.now())
    stop = asyncio.Event()
    loop = asyncio.create_task(
        tick_until_stopped(scheduler_app.state.scheduler, loop_clock, stop, INTERVAL)
    )
    try:
        yield Ticking(loop_clock, services_clock)
    finally:
        stop.set()
        await loop


async def tag_after_ten_minutes(scheduler: Any) -> dict[str, Any]:
    return await tag_after_minutes(scheduler, 10, name="Tag after ten minutes", tag="ten-minutes")


async def one_ticket_due_in_half_a_minute(
    api: Any, scheduler: Any, clock: ManualClock
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rule and a ticket it falls due on half a minute from the clock's now."""
    rule = await tag_after_ten_minutes(scheduler)
    ticket = await api.ticket(subject="due in half a minute")
    clock.advance(minutes=9, seconds=30)
    return rule, ticket


async def ledger(scheduler_app: Any, rule: dict[str, Any]) -> dict[str, tuple[str, datetime]]:
    """ticket id → (state, the instant it was claimed for) of the rule's firings."""
    return {row.ticket_id: (row.state, row.tick_at) for row in await firings(scheduler_app, rule)}


def due_at(ticket: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ticket["created_at"]) + 10 * MINUTE


async def test_a_ticket_falling_due_between_ticks_is_fired_at_that_instant(
    api, client, scheduler, scheduler_app, clock
):
    rule = await tag_after_ten_minutes(scheduler)
    early = await api.ticket(subject="due at the first tick")
    clock.advance(minutes=1)
    between = await api.ticket(subject="due between the first two ticks")
    clock.advance(minutes=1)
    later = await api.ticket(subject="due between the second and third ticks")
    clock.advance(minutes=8, seconds=45)
    start = clock.now()
    assert due_at(early) <= start < due_at(between) < start + MINUTE < due_at(later)

    async with ticking(scheduler_app, clock) as loop:
        held_for = await loop.next_wake()
        # The first tick fired what was due at its instant, and holds the next one.
        assert set(await ledger(scheduler_app, rule)) == {early["id"]}
        assert due_at(between) < held_for <= due_at(between) + FIRING_PRECISION
        # What is due at an instant is unchanged: not yet a second before, at it yes.
        assert await preview(scheduler, rule, held_for - FIRING_PRECISION) == []
        assert await preview(scheduler, rule, held_for) == [between["id"]]

        loop.move_to(held_for)
        assert await loop.next_wake() == start + MINUTE
        assert (await ledger(scheduler_app, rule))[between["id"]] == ("fired", held_for)
        assert await time_rule_history(client, between["id"]) == [
            ("Tag after ten minutes", "tags_changed", "tags", ["ten-minutes"])
        ]
        assert later["id"] not in await ledger(scheduler_app, rule)

        # The second tick holds the third ticket for its own instant.
        loop.move_to(start + MINUTE)
        held_for = await loop.next_wake()
        assert due_at(later) < held_for <= due_at(later) + FIRING_PRECISION
        loop.move_to(held_for)
        assert await loop.next_wake() == start + 2 * MINUTE
        assert (await ledger(scheduler_app, rule))[later["id"]] == ("fired", held_for)
    assert {state for state, _ in (await ledger(scheduler_app, rule)).values()} == {"fired"}


async def test_a_ticket_changed_while_held_is_not_fired_and_left_to_the_next_tick(
    api, client, scheduler, scheduler_app, clock
):
    rule, changed = await one_ticket_due_in_half_a_minute(api, scheduler, clock)
    start = clock.now()

    async with ticking(scheduler_app, clock) as loop:
        held_for = await loop.next_wake()
        assert due_at(changed) < held_for <= due_at(changed) + FIRING_PRECISION
        response = await client.patch(f"/v1/tickets/{changed['id']}", json={"priority": "high"})
        assert response.status_code == 200, response.text

        loop.move_to(held_for)
        assert await loop.next_wake() == start + MINUTE
        # Stale: the write-back named the version the look-ahead saw; nothing was done.
        assert await ledger(scheduler_app, rule) == {}
        assert await time_rule_history(client, changed["id"]) == []

        # The next tick decides again from what the ticket is now: still due, fired.
        loop.move_to(start + MINUTE)
        assert await loop.next_wake() == start + 2 * MINUTE
        assert await ledger(scheduler_app, rule) == {changed["id"]: ("fired", start + MINUTE)}
    assert len(await time_rule_history(client, changed["id"])) == 1


async def test_a_rule_changed_while_held_fires_nothing_until_the_next_tick(
    api, client, scheduler, scheduler_app, clock
):
    rule, ticket = await one_ticket_due_in_half_a_minute(api, scheduler, clock)

    async with ticking(scheduler_app, clock) as loop:
        held_for = await loop.next_wake()
        response = await scheduler.patch(f"/v1/time-rules/{rule['id']}", json={"active": False})
        assert response.status_code == 200, response.text
        loop.move_to(held_for)
        await loop.next_wake()
    assert await ledger(scheduler_app, rule) == {}
    assert await time_rule_history(client, ticket["id"]) == []


async def test_two_schedulers_holding_the_same_ticket_fire_it_once(
    api, client, scheduler, scheduler_app, clock
):
    rule, ticket = await one_ticket_due_in_half_a_minute(api, scheduler, clock)

    async with ticking(scheduler_app, clock) as first:
        held_for = await first.next_wake()
        # The second ticks after the first's tick ended: it finds the same ticket to hold.
        async with ticking(scheduler_app, clock) as second:
            assert await second.next_wake() == held_for
            second.clock.set(held_for)
            first.move_to(held_for)
            await first.next_wake()
            await second.next_wake()
    assert await ledger(scheduler_app, rule) == {ticket["id"]: ("fired", held_for)}
    assert len(await time_rule_history(client, ticket["id"])) == 1
