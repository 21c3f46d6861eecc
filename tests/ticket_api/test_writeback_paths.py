"""The asyncpg write-back path (simple actions) against the general ORM path: for the same
batch on the same kind of ticket, both must answer, record and publish exactly the same."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from helpdesk_ticket_api.tickets import writeback
from helpdesk_ticket_api.tickets.schemas import ActionBatch

from .helpers import error_of, history
from .test_actions import RULE, act
from .test_inbound import outbox_events

# Forces the general path without changing anything.
NO_OP_GENERAL = {"type": "set_custom_fields", "values": {}}


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


async def test_both_paths_answer_record_and_publish_the_same(api, client, service, database_url):
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
    # The first batch takes the asyncpg path, the second the general one.
    assert writeback.eligible(ActionBatch.model_validate({"actor": RULE, "actions": actions}))
    assert not writeback.eligible(
        ActionBatch.model_validate({"actor": RULE, "actions": [*actions, NO_OP_GENERAL]})
    )
    fast = await _run(api, client, service, database_url, actions, **extra)
    general = await _run(api, client, service, database_url, [*actions, NO_OP_GENERAL], **extra)
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


async def test_fast_path_errors_and_replays_like_the_general_one(api, client, service):
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


# The fast path reads without a lock and writes only while the ticket is still at the
# version it read (module docstring of tickets/writeback.py): what happens in between.


def _intercept_first_write(monkeypatch, before_write):
    """Run ``before_write(recording)`` once, just before the first write-back's write."""
    original = writeback.ConnectionStore.write_deferred
    calls = []

    async def write_deferred(self, ticket_id, version, *, recording):
        calls.append(version)
        if len(calls) == 1:
            await before_write(recording)
        return await original(self, ticket_id, version, recording=recording)

    monkeypatch.setattr(writeback.ConnectionStore, "write_deferred", write_deferred)
    return calls


async def test_a_ticket_that_keeps_changing_is_written_under_a_row_lock_at_last(
    api, client, service, monkeypatch
):
    ticket = await api.ticket()
    original = writeback.ConnectionStore.write_deferred
    rounds = []  # (version read, inside a transaction) of each of the rule's writes
    priorities = iter(["low", "high", "urgent"])

    async def write_deferred(self, ticket_id, version, *, recording):
        if recording[1] == "busy":
            rounds.append((version, self.conn.is_in_transaction()))
            change = next(priorities, None)
            if change is not None:  # someone else gets there first, three times
                other = await act(client, ticket, [{"type": "set_priority", "priority": change}])
                assert other.status_code == 200, other.text
        return await original(self, ticket_id, version, recording=recording)

    monkeypatch.setattr(writeback.ConnectionStore, "write_deferred", write_deferred)
    response = await act(service, ticket, [{"type": "add_tags", "tags": ["busy"]}], key="busy")
    assert response.status_code == 200, response.text
    v = ticket["version"]
    assert rounds == [(v, False), (v + 1, False), (v + 2, False), (v + 3, True)]
    answer = response.json()["ticket"]
    assert (answer["priority"], answer["tags"], answer["version"]) == ("urgent", ["busy"], v + 4)


async def test_a_ticket_changed_meanwhile_is_worked_out_again(
    api, client, service, database_url, monkeypatch
):
    ticket = await api.ticket()

    async def change_it_first(_):
        other = await act(client, ticket, [{"type": "set_priority", "priority": "urgent"}])
        assert other.status_code == 200, other.text

    calls = _intercept_first_write(monkeypatch, change_it_first)
    before = len(await outbox_events(database_url))
    response = await act(service, ticket, [{"type": "add_tags", "tags": ["moved"]}])
    assert response.status_code == 200, response.text
    # Writes in order: the rule's first (for version v; the admin's change, also read at
    # v, goes through just before it), then the rule's again, worked out from v + 1.
    v = ticket["version"]
    assert calls == [v, v, v + 1]
    answer = response.json()["ticket"]
    assert (answer["priority"], answer["tags"], answer["version"]) == ("urgent", ["moved"], v + 2)
    events = (await outbox_events(database_url))[before:]
    assert len(events) == 2
    assert [e["id"] for e in events[1:]] == response.json()["event_ids"]
    changes = [h for h in await history(client, ticket["id"]) if h["action"] != "created"]
    assert sorted(h["field"] for h in changes) == ["priority", "tags"]


async def test_a_key_taken_meanwhile_undoes_the_write_and_replays(
    app, api, client, service, database_url, monkeypatch
):
    ticket = await api.ticket()
    stored = {"ticket": None, "purged": False, "event_ids": ["stored-meanwhile"]}

    async def take_the_key(recording):
        principal_id, key, digest, now, _, _ = recording
        async with app.state.pg.acquire() as conn:
            await conn.execute(
                "INSERT INTO tickets.idempotency_key "
                "(principal_id, key, request_hash, created_at, status_code, response) "
                "VALUES ($1, $2, $3, $4, 200, $5::jsonb)",
                principal_id,
                key,
                digest,
                now,
                orjson.dumps(stored).decode(),
            )

    _intercept_first_write(monkeypatch, take_the_key)
    before = len(await outbox_events(database_url))
    response = await act(service, ticket, [{"type": "set_priority", "priority": "low"}])
    assert response.status_code == 200, response.text
    assert response.headers.get("Idempotent-Replayed") == "true"
    assert response.json() == stored
    # The statement that changed the ticket found the key taken and rolled back whole.
    after = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert (after["priority"], after["version"]) == (ticket["priority"], ticket["version"])
    assert len(await outbox_events(database_url)) == before
    assert [h["action"] for h in await history(client, ticket["id"])] == ["created"]


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


async def test_concurrent_duplicates_on_the_fast_path_apply_once(api, client, service):
    ticket = await api.ticket()
    actions = [{"type": "add_tags", "tags": ["once"]}, {"type": "set_priority", "priority": "low"}]
    responses = await asyncio.gather(*(act(service, ticket, actions, key="dup") for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 3
    assert all(r.json() == responses[0].json() for r in responses)
    final = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert (final["tags"], final["version"]) == (["once"], ticket["version"] + 1)
