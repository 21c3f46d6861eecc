"""POST /v1/tickets/{id}/actions: services' atomic, idempotent write-backs."""

from __future__ import annotations

import asyncio
import uuid

from .helpers import entries, error_of, history

RULE = {"kind": "rule", "id": "rule-17", "name": "Escalate VIPs"}


async def act(client, ticket, actions, key=None, **extra):
    body = {"actor": extra.pop("actor", RULE), "actions": actions, **extra}
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(f"/v1/tickets/{ticket['id']}/actions", json=body, headers=headers)


async def current(client, ticket):
    return (await client.get(f"/v1/tickets/{ticket['id']}")).json()


async def test_actions_apply_and_show_the_rule_in_history(api, client, service):
    ticket = await api.ticket()
    response = await act(
        service,
        ticket,
        [
            {"type": "set_priority", "priority": "urgent"},
            {"type": "add_tags", "tags": ["vip"]},
        ],
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["purged"] is False
    assert result["ticket"]["priority"] == "urgent"
    assert result["ticket"]["tags"] == ["vip"]
    assert result["ticket"]["version"] == ticket["version"] + 1
    assert len(result["event_ids"]) == 2
    assert await current(client, ticket) == result["ticket"]

    items = await history(client, ticket["id"])
    changed = [h for h in items if h["action"] != "created"]
    assert [(h["action"], h["field"], h["before"], h["after"]) for h in changed] == [
        ("updated", "priority", "medium", "urgent"),
        ("tags_changed", "tags", [], ["vip"]),
    ]
    for h in changed:
        assert h["actor"] == RULE
        assert h["event_id"] in result["event_ids"]


async def test_causation_correlation_and_depth_are_recorded(api, client, service):
    ticket = await api.ticket()
    correlation, causation = str(uuid.uuid4()), str(uuid.uuid4())
    response = await act(
        service,
        ticket,
        [{"type": "resolve"}],
        actor={"kind": "time_rule", "id": "tr-1", "name": "Close idle"},
        correlation_id=correlation,
        causation_id=causation,
        depth=3,
    )
    assert response.status_code == 200, response.text
    [change] = entries(await history(client, ticket["id"]), "status_changed")
    assert (change["before"], change["after"]) == ("new", "resolved")
    assert change["actor"] == {"kind": "time_rule", "id": "tr-1", "name": "Close idle"}
    assert change["correlation_id"] == correlation
    assert change["causation_id"] == causation
    assert change["depth"] == 3


async def test_idempotency_key_is_required(api, client, service):
    ticket = await api.ticket()
    response = await service.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json={"actor": RULE, "actions": [{"type": "resolve"}]},
    )
    error = error_of(response, 422, "idempotency_key_required")
    assert "Idempotency-Key" in error["message"]
    assert (await current(client, ticket))["status"] == "new"
    response = await act(service, ticket, [{"type": "resolve"}], key="x" * 201)
    assert "Idempotency-Key" in error_of(response, 422)["message"]
    assert (await current(client, ticket))["status"] == "new"


async def test_same_key_and_body_replays_and_applies_once(api, client, service):
    ticket = await api.ticket()
    actions = [
        {"type": "add_tags", "tags": ["escalated"]},
        {"type": "set_sla_level", "sla_level": "gold"},
    ]
    first = await act(service, ticket, actions, key="evt-1:rule-17:0")
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    # Meanwhile someone else changes the ticket; the replay still answers what happened then.
    await client.patch(f"/v1/tickets/{ticket['id']}", json={"priority": "low"})
    again = await act(service, ticket, actions, key="evt-1:rule-17:0")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()

    items = await history(client, ticket["id"])
    assert len(entries(items, "tags_changed")) == 1
    assert len(entries(items, "updated", "sla_level")) == 1
    assert (await current(client, ticket))["version"] == ticket["version"] + 2


async def test_same_key_with_a_different_body_is_refused(api, client, service):
    ticket = await api.ticket()
    other = await api.ticket()
    assert (await act(service, ticket, [{"type": "resolve"}], key="k1")).status_code == 200
    changed = await act(service, ticket, [{"type": "set_priority", "priority": "low"}], key="k1")
    assert "Idempotency-Key" in error_of(changed, 422, "idempotency_key_reused")["message"]
    # The same actions on another ticket are another request too.
    error_of(await act(service, other, [{"type": "resolve"}], key="k1"), 422)
    assert (await current(client, ticket))["priority"] == "medium"
    assert (await current(client, other))["status"] == "new"

    # Keys belong to the caller: another key's holder may use the same key.
    ticket = await api.ticket()
    assert (await act(service, ticket, [{"type": "resolve"}], key="shared")).status_code == 200
    mine = await act(client, ticket, [{"type": "set_priority", "priority": "high"}], key="shared")
    assert mine.status_code == 200
    assert "Idempotent-Replayed" not in mine.headers
    assert (await current(client, ticket))["priority"] == "high"


async def test_concurrent_duplicates_apply_once(api, client, service):
    ticket = await api.ticket()
    actions = [{"type": "add_message", "body": "We got your request", "author_kind": "system"}]
    responses = await asyncio.gather(*(act(service, ticket, actions, key="dup") for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 3
    assert all(r.json() == responses[0].json() for r in responses)
    messages = (await client.get(f"/v1/tickets/{ticket['id']}/messages")).json()["items"]
    assert [m["body"] for m in messages].count("We got your request") == 1


async def test_a_batch_is_atomic(api, client, service):
    support = await api.department()
    ticket = await api.ticket(department_id=support["id"])
    response = await act(
        service,
        ticket,
        [
            {"type": "set_priority", "priority": "urgent"},
            {"type": "transfer", "department_id": str(uuid.uuid4())},
            {"type": "add_tags", "tags": ["never"]},
        ],
        key="atomic",
    )
    error = error_of(response, 422, "unknown_reference")
    assert error["message"].startswith("actions[1] (transfer): department_id")
    after = await current(client, ticket)
    assert after == ticket
    assert [h["action"] for h in await history(client, ticket["id"])] == ["created"]

    # The failed attempt did not use the key up: a corrected retry runs for real.
    fixed = await act(
        service, ticket, [{"type": "set_priority", "priority": "urgent"}], key="atomic"
    )
    assert fixed.status_code == 200
    assert "Idempotent-Replayed" not in fixed.headers
    assert fixed.json()["ticket"]["priority"] == "urgent"


async def test_conflicting_second_action_names_it(api, client, service):
    ticket = await api.ticket()
    response = await act(
        service,
        ticket,
        [{"type": "set_priority", "priority": "low"}, {"type": "set_status", "status": "chatting"}],
    )
    error = error_of(response, 409, "invalid_transition")
    assert error["message"].startswith("actions[1] (set_status)")
    assert (await current(client, ticket))["priority"] == "medium"


async def test_expected_version(api, client, service):
    ticket = await api.ticket()
    stale = await act(
        service, ticket, [{"type": "resolve"}], expected_version=ticket["version"] + 1
    )
    assert str(ticket["version"]) in error_of(stale, 409, "version_mismatch")["message"]
    assert (await current(client, ticket))["status"] == "new"
    fresh = await act(service, ticket, [{"type": "resolve"}], expected_version=ticket["version"])
    assert fresh.status_code == 200
    assert fresh.json()["ticket"]["version"] == ticket["version"] + 1


async def test_delete_then_purge_in_one_batch(api, client, service):
    ticket = await api.ticket()
    response = await act(service, ticket, [{"type": "delete"}, {"type": "purge"}], key="p")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result == {"ticket": None, "purged": True, "event_ids": result["event_ids"]}
    assert len(result["event_ids"]) == 2
    error_of(await client.get(f"/v1/tickets/{ticket['id']}"), 404)

    items = await history(client, ticket["id"])
    assert [h["action"] for h in items] == ["created", "deleted", "deleted", "purged"]
    assert all(h["actor"] == RULE for h in items[1:])
    # A retry after the purge replays the outcome instead of failing with 404.
    again = await act(service, ticket, [{"type": "delete"}, {"type": "purge"}], key="p")
    assert again.status_code == 200
    assert again.json() == result


async def test_purge_must_be_last_and_needs_a_deleted_or_spam_ticket(api, client, service):
    ticket = await api.ticket()
    not_last = await act(service, ticket, [{"type": "purge"}, {"type": "resolve"}])
    assert error_of(not_last, 422)["message"].startswith("actions[0]")
    live = await act(
        service, ticket, [{"type": "set_priority", "priority": "low"}, {"type": "purge"}]
    )
    assert error_of(live, 409, "invalid_transition")["message"].startswith("actions[1] (purge)")
    after = await current(client, ticket)
    assert after == ticket

    spam = await act(service, ticket, [{"type": "mark_spam"}, {"type": "purge"}])
    assert spam.status_code == 200
    assert spam.json()["purged"] is True


async def test_every_action_type(api, client, service):
    await client.post(
        "/v1/custom-fields",
        json={"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]},
    )
    support = await api.department()
    agent = await api.agent([support["id"]])
    ticket = await api.ticket(tags=["old"])
    steps = [
        (
            {"type": "transfer", "department_id": support["id"], "agent_id": agent["id"]},
            lambda t: (t["department_id"], t["agent_id"]) == (support["id"], agent["id"]),
        ),
        ({"type": "set_status", "status": "postponed"}, lambda t: t["status"] == "postponed"),
        ({"type": "resolve"}, lambda t: t["status"] == "resolved"),
        ({"type": "set_priority", "priority": "high"}, lambda t: t["priority"] == "high"),
        ({"type": "set_sla_level", "sla_level": "gold"}, lambda t: t["sla_level"] == "gold"),
        ({"type": "set_sla_level", "sla_level": None}, lambda t: t["sla_level"] is None),
        ({"type": "set_subject", "subject": "Renamed"}, lambda t: t["subject"] == "Renamed"),
        ({"type": "add_tags", "tags": ["a", "b"]}, lambda t: t["tags"] == ["old", "a", "b"]),
        ({"type": "remove_tags", "tags": ["old", "b"]}, lambda t: t["tags"] == ["a"]),
        (
            {"type": "set_custom_fields", "values": {"plan": "pro"}},
            lambda t: t["custom_fields"] == {"plan": "pro"},
        ),
        ({"type": "mark_spam"}, lambda t: t["status"] == "spam"),
        ({"type": "mark_not_spam"}, lambda t: t["status"] == "new"),
        ({"type": "delete"}, lambda t: t["status"] == "deleted" and t["deleted_at"]),
        ({"type": "restore"}, lambda t: t["status"] == "new" and not t["deleted_at"]),
        (
            {
                "type": "add_message",
                "author_kind": "agent",
                "author_id": agent["id"],
                "body": "Hi",
                "to": ["customer@example.com"],
            },
            lambda t: t["status"] == "answered" and t["last_message"]["body"] == "Hi",
        ),
    ]
    for action, check in steps:
        response = await act(service, ticket, [action])
        assert response.status_code == 200, (action, response.text)
        assert check(response.json()["ticket"]), (action, response.json()["ticket"])
    items = await history(client, ticket["id"])
    assert {h["actor"]["kind"] for h in items[1:]} == {"rule"}


async def test_invalid_batches_are_422(api, client, service):
    ticket = await api.ticket()
    for body in [
        {"actor": RULE, "actions": []},
        {"actor": RULE, "actions": [{"type": "explode"}]},
        {"actor": RULE, "actions": [{"type": "set_priority"}]},
        {"actor": RULE, "actions": [{"type": "resolve", "why": "because"}]},
        {"actor": {"kind": "admin"}, "actions": [{"type": "resolve"}]},
        {"actions": [{"type": "resolve"}]},
        {"actor": RULE, "actions": [{"type": "resolve"}], "depth": -1},
        {"actor": RULE, "actions": [{"type": "resolve"}] * 51},
    ]:
        response = await service.post(
            f"/v1/tickets/{ticket['id']}/actions",
            json=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        error_of(response, 422, "invalid")
    response = await act(
        service,
        ticket,
        [
            {
                "type": "add_message",
                "author_kind": "agent",
                "author_id": str(uuid.uuid4()),
                "body": "x",
            }
        ],
    )
    assert error_of(response, 422)["message"].startswith("actions[0] (add_message): author_id")
    assert await current(client, ticket) == ticket
    response = await service.post(
        f"/v1/tickets/{uuid.uuid4()}/actions",
        json={"actor": RULE, "actions": [{"type": "resolve"}]},
        headers={"Idempotency-Key": "k"},
    )
    error_of(response, 404, "not_found")


async def test_a_batch_that_changes_nothing(api, service):
    ticket = await api.ticket(priority="high")
    response = await act(service, ticket, [{"type": "set_priority", "priority": "high"}])
    assert response.status_code == 200
    assert response.json()["event_ids"] == []
    assert response.json()["ticket"]["version"] == ticket["version"]


async def test_a_batch_that_also_deletes_records_each_change_once(api, client, service):
    billing = await api.department("Billing")
    ticket = await api.ticket()
    response = await act(
        service,
        ticket,
        [
            {"type": "transfer", "department_id": billing["id"]},
            {"type": "set_priority", "priority": "high"},
            {"type": "delete"},
        ],
    )
    assert response.status_code == 200, response.text
    changed = [h for h in await history(client, ticket["id"]) if h["action"] != "created"]
    assert sorted((h["action"], h["field"]) for h in changed) == [
        ("deleted", "deleted_at"),
        ("deleted", "status"),
        ("transferred", "department_id"),
        ("updated", "priority"),
    ]
    assert len(response.json()["event_ids"]) == 3
