"""Ticks for a given instant (time travel through POST /v1/ticks): the issue's seed
examples, once per episode, the preview equal to the tick, and the history naming the
time rule. Time moves only through the ManualClock and the ``at`` of each tick."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from helpdesk_scheduler.main import create_app as create_scheduler
from helpdesk_scheduler.ticks.tick import TICK_LOCK
from sqlalchemy import text

from tests.conftest import admin_client, running
from tests.scheduler.conftest import (
    all_of,
    cond,
    fired,
    firings,
    make_time_rule,
    only_rules,
    preview,
    scheduler_settings,
    tick,
    time_rule_history,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def agent_reply(client, ticket_id, body="Have you tried turning it off?"):
    response = await client.post(
        f"/v1/tickets/{ticket_id}/messages", json={"author_kind": "agent", "body": body}
    )
    assert response.status_code == 201, response.text


async def customer_message(client, ticket_id, body="Still broken."):
    response = await client.post(
        f"/v1/tickets/{ticket_id}/messages", json={"author_kind": "customer", "body": body}
    )
    assert response.status_code == 201, response.text


async def answered_ticket(api, client, **fields):
    """A new ticket an agent has replied to, so its status is answered."""
    created = await api.ticket(**fields)
    await agent_reply(client, created["id"])
    return created


async def only_time_rule(scheduler, name, *conditions, action):
    """The one active time rule: ``action`` once all ``conditions`` hold."""
    rule = await make_time_rule(
        scheduler, name=name, conditions=all_of(*conditions), actions=[action]
    )
    await only_rules(scheduler, rule)
    return rule


async def only_rule_after_agent_reply(scheduler, name, amount, unit, action):
    """The one active rule: ``action`` on an answered ticket whose last agent reply is
    ``amount`` ``unit`` old."""
    return await only_time_rule(
        scheduler,
        name,
        cond("status", "is", "answered"),
        cond("last_agent_reply_at", "older_than", amount, unit=unit),
        action=action,
    )


async def ticket(client, ticket_id):
    response = await client.get(f"/v1/tickets/{ticket_id}")
    return response.json() if response.status_code == 200 else None


async def notifier_requests(scheduler_app):
    async with scheduler_app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT payload FROM scheduler.outbox ORDER BY id"))).all()
    return [orjson.loads(row.payload) for row in rows]


async def test_follow_up_24_hours_after_the_last_interaction_once_per_episode(
    api, client, scheduler, scheduler_app, clock
):
    rule = await only_time_rule(
        scheduler,
        "Follow up after a day",
        cond("status", "is", "answered"),
        cond("last_message_at", "older_than", 24, unit="hours"),
        cond("last_message_author", "is", "agent"),
        action={"type": "send_answer", "body": "Did that help with {{ ticket.code }}?"},
    )
    created = await answered_ticket(api, client)
    start = clock.now()

    assert fired(await tick(scheduler, start + 23 * HOUR), rule) == []
    assert fired(await tick(scheduler, start + 25 * HOUR), rule) == [created["id"]]
    # Once per episode: the rule's own answer is no person's activity.
    assert fired(await tick(scheduler, start + 50 * HOUR), rule) == []
    (request,) = await notifier_requests(scheduler_app)
    assert request["type"] == "notification.requested"
    assert request["request"]["kind"] == "send_answer"
    assert request["request"]["body"] == f"Did that help with {created['code']}?"
    assert request["actor"] == {"kind": "time_rule", "id": rule["id"], "name": rule["name"]}
    history = await time_rule_history(client, created["id"])
    assert history and all(name == "Follow up after a day" for name, *_ in history)

    # New activity by a person starts a new episode: the rule fires again 24 hours later.
    clock.advance(hours=60)
    await customer_message(client, created["id"])
    await agent_reply(client, created["id"], "Try this instead.")
    again = clock.now()
    assert fired(await tick(scheduler, again + 23 * HOUR), rule) == []
    assert fired(await tick(scheduler, again + 25 * HOUR), rule) == [created["id"]]
    assert len(await notifier_requests(scheduler_app)) == 2


async def test_reminder_after_48_hours_without_a_customer_reply(api, client, scheduler, clock):
    rule = await only_rule_after_agent_reply(
        scheduler, "Remind after 48 hours", 48, "hours", {"type": "add_tags", "tags": ["reminded"]}
    )
    waiting = await answered_ticket(api, client, subject="waiting")
    replied = await answered_ticket(api, client, subject="replied")
    clock.advance(hours=1)
    await customer_message(client, replied["id"])
    start = clock.now()

    assert await preview(scheduler, rule, start + 47 * HOUR) == []
    assert await preview(scheduler, rule, start + 48 * HOUR) == [waiting["id"]]
    result = await tick(scheduler, start + 48 * HOUR)
    assert fired(result, rule) == [waiting["id"]]
    assert (await ticket(client, waiting["id"]))["tags"] == ["reminded"]
    assert (
        "Remind after 48 hours",
        "tags_changed",
        "tags",
        ["reminded"],
    ) in await time_rule_history(client, waiting["id"])
    assert await time_rule_history(client, replied["id"]) == []


async def test_resolve_after_10_days_without_a_reply(api, client, scheduler, clock):
    rule = await only_rule_after_agent_reply(
        scheduler, "Resolve after 10 days", 10, "days", {"type": "resolve"}
    )
    quiet = await answered_ticket(api, client)
    start = clock.now()
    assert fired(await tick(scheduler, start + 9 * DAY), rule) == []
    assert fired(await tick(scheduler, start + 10 * DAY + HOUR), rule) == [quiet["id"]]
    assert (await ticket(client, quiet["id"]))["status"] == "resolved"


async def test_the_built_in_rule_deletes_spam_after_90_days(api, client, scheduler, clock):
    spam = await api.ticket(subject="Cheap watches")
    legit = await api.ticket(subject="Real question")
    response = await client.patch(f"/v1/tickets/{spam['id']}", json={"status": "spam"})
    assert response.status_code == 200, response.text
    start = clock.now()
    await tick(scheduler, start + 89 * DAY)
    assert (await ticket(client, spam["id"]))["status"] == "spam"
    result = await tick(scheduler, start + 91 * DAY)
    (outcome,) = [r for r in result["rules"] if r["name"] == "Delete spam older than 90 days"]
    assert outcome["fired"] == [spam["id"]]
    assert (await ticket(client, spam["id"]))["status"] == "deleted"
    assert (await ticket(client, legit["id"]))["status"] == "new"


async def test_tag_idle_tickets_with_the_reason_in_the_preview(api, scheduler, clock):
    rule = await only_time_rule(
        scheduler,
        "Tag idle tickets",
        cond("status", "is_not", "resolved"),
        cond("updated_at", "older_than", 3, unit="days"),
        action={"type": "add_tags", "tags": ["idle"]},
    )
    idle = await api.ticket()
    start = clock.now()
    at = start + 4 * DAY
    response = await scheduler.post(
        f"/v1/time-rules/{rule['id']}/preview", params={"at": at.isoformat()}
    )
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["ticket_id"] == idle["id"]
    (reason,) = item["reasons"]
    assert reason["field"] == "updated_at"
    assert reason["elapsed_minutes"] == 4 * 24 * 60
    assert reason["text"] == "updated_at older_than 3 days: 4.0 days ago"
    assert fired(await tick(scheduler, at), rule) == [idle["id"]]
    # Tagging changed updated_at, but no person acted: the same episode, no second firing.
    assert fired(await tick(scheduler, at + 4 * DAY), rule) == []
    assert await preview(scheduler, rule, at + 4 * DAY) == []


async def test_the_preview_is_exactly_what_the_tick_then_does(api, client, scheduler, clock):
    rule = await only_time_rule(
        scheduler,
        "Old new tickets",
        cond("status", "is", "new"),
        cond("created_at", "older_than", 2, unit="hours"),
        action={"type": "change_priority", "priority": "high"},
    )
    old = [await api.ticket(subject=f"old {i}") for i in range(3)]
    clock.advance(hours=1)
    young = await api.ticket(subject="young")
    answered = await answered_ticket(api, client, subject="answered")
    at = clock.now() + 90 * timedelta(minutes=1)
    listed = await preview(scheduler, rule, at)
    assert sorted(listed) == sorted(t["id"] for t in old)
    assert young["id"] not in listed and answered["id"] not in listed
    assert fired(await tick(scheduler, at), rule) == sorted(listed)
    assert await preview(scheduler, rule, at) == []


async def test_a_tick_is_refused_while_another_runs(scheduler, scheduler_app):
    async with scheduler_app.state.engine.connect() as holder:
        locked = text("SELECT pg_try_advisory_lock(:key)")
        assert await holder.scalar(locked, {"key": TICK_LOCK})
        response = await scheduler.post("/v1/ticks")
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "tick_running"
        await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": TICK_LOCK})
    assert (await scheduler.post("/v1/ticks")).status_code == 200


async def test_the_ledger_records_each_firing_once(api, scheduler, scheduler_app, clock):
    rule = await make_time_rule(
        scheduler,
        conditions=all_of(cond("created_at", "older_than", 1, unit="minutes")),
        actions=[{"type": "add_tags", "tags": ["seen"]}],
    )
    await only_rules(scheduler, rule)
    created = await api.ticket()
    at = clock.now() + HOUR
    await tick(scheduler, at)
    await tick(scheduler, at + HOUR)
    rows = await firings(scheduler_app, rule)
    assert [(r.ticket_id, r.state) for r in rows] == [(created["id"], "fired")]
    assert rows[0].anchor == datetime.fromisoformat(created["created_at"])


async def test_a_rule_acts_on_what_the_rules_before_it_did_across_pages(
    api, client, ticket_api_url, sla_tracker_url, database_url, clock, topics
):
    """A rule's pages overlap (the next searched while the last are written back), rules
    do not: the second rule finds every ticket the first tagged, on every page, and acts
    on that version of it (none stale)."""
    settings = scheduler_settings(database_url, ticket_api_url, sla_tracker_url, topics)
    settings.page_size = 2
    async with (
        running(create_scheduler(settings, clock=clock)) as scheduler_app,
        admin_client(scheduler_app, "scheduler") as scheduler,
    ):
        tagging = await make_time_rule(
            scheduler,
            name="Tag a minute after creation",
            position=1,
            conditions=all_of(cond("created_at", "older_than", 1, unit="minutes")),
            actions=[{"type": "add_tags", "tags": ["tagged"]}],
        )
        following = await make_time_rule(
            scheduler,
            name="Follow the tag",
            position=2,
            conditions=all_of(cond("tags", "has_tag", "tagged")),
            actions=[{"type": "add_tags", "tags": ["followed"]}],
        )
        await only_rules(scheduler, tagging, following)
        created = sorted([(await api.ticket())["id"] for _ in range(7)])

        result = await tick(scheduler, clock.now() + HOUR)

    assert fired(result, tagging) == created
    assert fired(result, following) == created
    assert all(not rule["stale"] and not rule["failed"] for rule in result["rules"])
    for ticket_id in created:
        assert sorted((await ticket(client, ticket_id))["tags"]) == ["followed", "tagged"]
