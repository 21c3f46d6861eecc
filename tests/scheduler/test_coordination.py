"""Real ticker processes against the in-process ticket-api (over loopback): two schedulers
racing never fire anything twice, a scheduler killed with SIGKILL mid-tick is resumed
by the next tick without loss or duplicates, and the ticker prunes the ledger."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import text

from tests.conftest import ADMIN_KEY, SERVICE_KEY
from tests.e2e.suite import Suite
from tests.scheduler.conftest import (
    all_of,
    cond,
    make_time_rule,
    only_rules,
    tag_after_minutes,
    tick,
)
from tests.scheduler.test_retention import add_firing, ledger_of

TICKETS = 120


@pytest.fixture
def processes(database_url, topics, tmp_path):
    suite = Suite(
        database_url=database_url,
        # No broker: ticks do not need one (the relay keeps waiting for it).
        bootstrap_servers="127.0.0.1:1",
        topic_prefix=topics.prefix,
        log_dir=tmp_path,
        admin_key=ADMIN_KEY,
        service_key=SERVICE_KEY,
    )
    try:
        yield suite
    finally:
        suite.stop_all()


async def ledger(scheduler_app) -> dict[str, int]:
    async with scheduler_app.state.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT state, count(*) AS n FROM scheduler.firing GROUP BY 1"))
        ).all()
    return {row.state: row.n for row in rows}


async def wait_for(condition, what, timeout=60.0):
    # Waits on the processes' progress, not on time passing.
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def batch_rule(api, scheduler):
    rule = await make_time_rule(
        scheduler,
        name="Tag the batch",
        conditions=all_of(cond("tags", "has_tag", "batch")),
        actions=[{"type": "add_tags", "tags": ["done"]}],
    )
    await only_rules(scheduler, rule)
    return rule, [(await api.ticket(tags=["batch"]))["id"] for _ in range(TICKETS)]


async def assert_each_fired_once(client, tickets):
    for ticket_id in tickets:
        items = (await client.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
        by_rule = [h for h in items if h["actor"]["kind"] == "time_rule"]
        assert len(by_rule) == 1, (ticket_id, by_rule)
        assert by_rule[0]["actor"]["name"] == "Tag the batch"


async def test_two_schedulers_racing_fire_each_ticket_once(
    api, client, scheduler, scheduler_app, ticket_api_url, processes
):
    _, tickets = await batch_rule(api, scheduler)
    racers = [
        processes.scheduler_ticker(ticket_api_url, name=f"ticker-{i}", tick_seconds="3600")
        for i in range(2)
    ]
    for racer in racers:
        racer.start()

    async def all_fired():
        return (await ledger(scheduler_app)).get("fired", 0) == TICKETS

    await wait_for(all_fired, "the tickets to be fired")
    skipped = sum("another scheduler is ticking" in racer.log_tail(200) for racer in racers)
    assert (await ledger(scheduler_app)) == {"fired": TICKETS}
    await assert_each_fired_once(client, tickets)
    # Both started together: one ticked, the other found the tick taken (or came after it
    # and found nothing left to do).
    assert skipped <= 1


async def test_a_scheduler_killed_mid_tick_is_resumed_without_loss_or_duplicates(
    api, client, scheduler, scheduler_app, ticket_api_url, processes
):
    _, tickets = await batch_rule(api, scheduler)
    victim = processes.scheduler_ticker(
        ticket_api_url, tick_seconds="3600", page_size="20", write_backs_in_flight="1"
    )
    victim.start()

    async def some_fired():
        return (await ledger(scheduler_app)).get("fired", 0) >= 30

    await wait_for(some_fired, "the first firings")
    victim.kill()
    before = await ledger(scheduler_app)
    assert before.get("fired", 0) < TICKETS, "the tick ended before the kill: nothing to resume"

    async def resumed():
        response = await scheduler.post("/v1/ticks")
        # The killed process's lock goes with its connection, which PostgreSQL may notice
        # a moment later.
        return response.status_code == 200

    await wait_for(resumed, "the tick lock to be released")
    assert (await ledger(scheduler_app)) == {"fired": TICKETS}
    await assert_each_fired_once(client, tickets)
    assert (await tick(scheduler, scheduler_app.state.clock.now()))["fired"] == 0


async def test_the_ticker_prunes_old_finished_firings_of_the_ledger(
    scheduler, scheduler_app, ticket_api_url, processes
):
    rule = await make_time_rule(
        scheduler,
        name="Long ago",
        conditions=all_of(cond("tags", "has_tag", "long-ago")),
        actions=[{"type": "add_tags", "tags": ["done"]}],
    )
    # Nothing active: the ticker's tick has nothing to do, only its pruner acts.
    await only_rules(scheduler)
    rule_id, now = UUID(rule["id"]), datetime.now(UTC)
    engine = scheduler_app.state.engine
    old = await add_firing(engine, now, rule_id, "fired", 500)
    recent = await add_firing(engine, now, rule_id, "fired", 30)
    processes.scheduler_ticker(ticket_api_url, tick_seconds="3600").start()

    async def pruned():
        return old not in await ledger_of(engine, rule_id)

    await wait_for(pruned, "the ticker to prune the old firing")
    assert await ledger_of(engine, rule_id) == {recent}


async def test_a_scheduler_killed_while_holding_firings_loses_none_of_them(
    api, client, scheduler, scheduler_app, ticket_api_url, processes, clock
):
    await tag_after_minutes(scheduler, 30, name="Tag the batch", tag="done")
    # The ticker runs on the real clock: the tickets fall due half an hour from now, inside
    # its hour-long look-ahead.
    clock.set(datetime.now(UTC))
    created = clock.now()
    tickets = [(await api.ticket())["id"] for _ in range(TICKETS)]
    holder = processes.scheduler_ticker(ticket_api_url, tick_seconds="3600")
    holder.start()

    async def holding():
        return f"'held': {TICKETS}," in holder.log_tail(200)

    await wait_for(holding, "the ticker to hold the firings")
    holder.kill()
    # Held, not claimed: nothing of them is in the ledger.
    assert await ledger(scheduler_app) == {}

    result = await tick(scheduler, created + timedelta(minutes=31))
    assert result["fired"] == TICKETS
    assert (await ledger(scheduler_app)) == {"fired": TICKETS}
    await assert_each_fired_once(client, tickets)
