"""The one write-back path (tickets/writeback.py): what it answers, records and publishes,
and how it meets other changes of the same ticket and duplicates of the same request."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from helpdesk_ticket_api import idempotency
from helpdesk_ticket_api.auth import hash_key
from helpdesk_ticket_api.tickets.schemas import ActionBatch

from tests.conftest import SERVICE_KEY

from .helpers import error_of, history
from .test_actions import RULE, act
from .test_creation import outbox_events

# Custom fields, set to nothing: the batch takes no other way and changes nothing more.
NO_OP_CUSTOM_FIELDS = {"type": "set_custom_fields", "values": {}}


def _normalise(value: Any, ids: dict[str, str]) -> Any:
    """Replace what differs between two tickets by design (their ids, codes)."""
    if isinstance(value, dict):
        return {k: _normalise(v, ids) for k, v in value.items() if k not in ("id", "event_id")}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, str):
        for real, placeholder in ids.items():
            value = value.replace(real, placeholder)
    return value


async def _run(api, client, service, database_url, actions, **extra):
    ticket = await api.ticket()
    before = len(await outbox_events(database_url))
    response = await act(service, ticket, actions, **extra)
    assert response.status_code == 200, response.text
    body = response.json()
    ids = {ticket["id"]: "<ticket>", ticket["code"]: "<code>"}
    if ticket["last_message"]:
        ids[ticket["last_message"]["id"]] = "<message>"
    events = (await outbox_events(database_url))[before:]
    assert [e["id"] for e in events] == body["event_ids"]
    steps = [h for h in await history(client, ticket["id"]) if h["action"] != "created"]
    return (
        _normalise({k: v for k, v in body.items() if k != "event_ids"}, ids),
        _normalise(steps, ids),
        _normalise(events, ids),
    )


async def test_a_batch_answers_records_and_publishes_its_changes(
    api, client, service, database_url
):
    billing = await api.department("Billing")
    agent = await api.agent([billing["id"]], availability={"email": "online"})
    correlation, causation = str(uuid.uuid4()), str(uuid.uuid4())
    actions = [
        {"type": "transfer", "department_id": billing["id"], "agent_id": agent["id"]},
        {"type": "set_priority", "priority": "urgent"},
        {"type": "add_tags", "tags": ["vip", "billing", "vip"]},
        {"type": "remove_tags", "tags": ["billing"]},
        {"type": "set_sla_level", "sla_level": "gold"},
        {"type": "set_subject", "subject": "Invoice wrong"},
        {"type": "set_status", "status": "open"},
        {"type": "mark_spam"},
        {"type": "mark_not_spam"},
        {"type": "delete"},
        {"type": "restore"},
    ]
    extra = {"correlation_id": correlation, "causation_id": causation, "depth": 2}
    fast = await _run(api, client, service, database_url, actions, **extra)
    general = await _run(
        api, client, service, database_url, [*actions, NO_OP_CUSTOM_FIELDS], **extra
    )
    assert fast == general
    answer, steps, events = fast
    assert answer["ticket"]["agent_status"] == "online"
    assert answer["ticket"]["tags"] == ["vip"]
    assert answer["ticket"]["last_message"]["body"] == "It is on fire."
    assert {e["type"] for e in events} >= {"ticket.transferred", "ticket.deleted"}
    assert all(s["actor"]["name"] == RULE["name"] and s["depth"] == 2 for s in steps)


async def test_nothing_to_change_still_answers_with_the_ticket(api, service, database_url):
    ticket = await api.ticket(priority="high")
    fast = await act(service, ticket, [{"type": "set_priority", "priority": "high"}])
    assert fast.status_code == 200, fast.text
    assert fast.json()["event_ids"] == []
    assert fast.json()["ticket"]["version"] == ticket["version"]
    assert fast.json()["ticket"]["customer_email"] == "customer@example.com"


async def test_errors_leave_nothing_and_a_key_replays(api, client, service):
    ticket = await api.ticket()
    unknown = str(uuid.uuid4())
    response = await act(service, ticket, [{"type": "transfer", "department_id": unknown}])
    error = error_of(response, 422, "unknown_reference")
    assert error["message"] == (
        f"actions[0] (transfer): department_id: no department with id {unknown}"
    )
    response = await act(
        service,
        ticket,
        [{"type": "set_priority", "priority": "low"}, {"type": "set_status", "status": "deleted"}],
    )
    error = error_of(response, 422, "invalid_transition")
    assert error["message"].startswith("actions[1] (set_status): status: use DELETE")
    # Nothing of a refused batch is kept.
    assert [h["action"] for h in await history(client, ticket["id"])] == ["created"]

    key = uuid.uuid4().hex
    first = await act(service, ticket, [{"type": "resolve"}], key=key)
    again = await act(service, ticket, [{"type": "resolve"}], key=key)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    other = await act(service, ticket, [{"type": "set_priority", "priority": "low"}], key=key)
    error_of(other, 422, "idempotency_key_reused")
    missing = await act(
        service, {"id": str(uuid.uuid4())}, [{"type": "resolve"}], key=uuid.uuid4().hex
    )
    error_of(missing, 404)


# A write-back reads its ticket FOR UPDATE in its transaction, after claiming its key
# (module docstring of tickets/writeback.py): what happens when either is held meanwhile.


async def _behind_a_lock(app, request, sql, *args):
    """``request``'s response, sent while another transaction that ran ``sql`` holds what it
    locked: the request waits for the lock, which that transaction's commit then releases."""
    conn = await app.state.pg.acquire()
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(sql, *args)
        task = asyncio.create_task(request)
        await _blocked(app, task)
        await transaction.commit()
    finally:
        await app.state.pg.release(conn)
    return await task


async def _blocked(app, task):
    """Wait until ``task`` (a request) waits for a lock: it got as far as it could."""
    async with app.state.pg.acquire() as conn:
        while not task.done():
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if waiting:
                return
    raise AssertionError(f"the request did not wait: {task.result().text}")


async def test_a_ticket_changed_meanwhile_is_written_on_top_of_that_change(
    app, api, client, service, database_url
):
    """A write-back waits for a change that holds the ticket, then works out its batch from
    the version that change left (a busy ticket queues write-backs, never starves them)."""
    ticket = await api.ticket()
    before = len(await outbox_events(database_url))
    response = await _behind_a_lock(
        app,
        act(service, ticket, [{"type": "add_tags", "tags": ["moved"]}]),
        "UPDATE tickets.ticket SET priority = 'urgent', version = version + 1 WHERE id = $1",
        uuid.UUID(ticket["id"]),
    )
    assert response.status_code == 200, response.text
    v = ticket["version"]
    answer = response.json()["ticket"]
    assert (answer["priority"], answer["tags"], answer["version"]) == ("urgent", ["moved"], v + 2)
    events = (await outbox_events(database_url))[before:]
    assert [e["id"] for e in events] == response.json()["event_ids"]
    changes = [h for h in await history(client, ticket["id"]) if h["action"] != "created"]
    assert [h["field"] for h in changes] == ["tags"]


async def test_a_duplicate_in_flight_is_waited_for_and_replayed(
    app, api, client, service, database_url
):
    """The key claimed by a duplicate not yet committed: the write-back waits for it and
    replays its response, changing nothing."""
    ticket = await api.ticket()
    stored = {"ticket": None, "purged": False, "event_ids": ["stored-meanwhile"]}
    actions = [{"type": "set_priority", "priority": "low"}]
    key = uuid.uuid4().hex
    body = {"actor": RULE, "actions": actions}
    digest = idempotency.request_hash(
        f"/v1/tickets/{ticket['id']}/actions", {"ticket_id": ticket["id"], **_batch(body)}
    )
    principal_id = await _principal_id(app, service)
    before = len(await outbox_events(database_url))
    response = await _behind_a_lock(
        app,
        act(service, ticket, actions, key=key),
        "INSERT INTO tickets.idempotency_key "
        "(principal_id, key, request_hash, created_at, status_code, response) "
        "VALUES ($1, $2, $3, now(), 200, $4::jsonb)",
        principal_id,
        key,
        digest,
        orjson.dumps(stored).decode(),
    )
    assert response.status_code == 200, response.text
    assert response.headers.get("Idempotent-Replayed") == "true"
    assert response.json() == stored
    after = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert (after["priority"], after["version"]) == (ticket["priority"], ticket["version"])
    assert len(await outbox_events(database_url)) == before
    assert [h["action"] for h in await history(client, ticket["id"])] == ["created"]


def _batch(body):
    return ActionBatch.model_validate(body).model_dump(mode="json")


async def _principal_id(app, service):
    """The principal id the bootstrap service key stands for (from the key cache, where a
    first request puts it)."""
    await service.get("/v1/tickets", params={"limit": 1})
    return app.state.key_cache.get(hash_key(SERVICE_KEY)).principal_id


async def test_concurrent_write_backs_to_one_ticket_all_apply(api, client, service):
    ticket = await api.ticket()
    tags = [f"tag-{i}" for i in range(8)]
    responses = await asyncio.gather(
        *(act(service, ticket, [{"type": "add_tags", "tags": [tag]}]) for tag in tags)
    )
    assert [r.status_code for r in responses] == [200] * len(tags), [r.text for r in responses]
    versions = sorted(r.json()["ticket"]["version"] for r in responses)
    assert versions == [ticket["version"] + 1 + i for i in range(len(tags))]
    final = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert sorted(final["tags"]) == tags
    assert len([h for h in await history(client, ticket["id"]) if h["field"] == "tags"]) == 8


async def test_concurrent_duplicates_apply_once(api, client, service):
    ticket = await api.ticket()
    actions = [{"type": "add_tags", "tags": ["once"]}, {"type": "set_priority", "priority": "low"}]
    responses = await asyncio.gather(*(act(service, ticket, actions, key="dup") for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 3
    assert all(r.json() == responses[0].json() for r in responses)
    final = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert (final["tags"], final["version"]) == (["once"], ticket["version"] + 1)
