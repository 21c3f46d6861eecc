"""POST /v1/tickets/actions: several write-backs in one request, each answered as
POST /v1/tickets/{id}/actions would answer it alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from .helpers import error_of, fields_named, history
from .test_creation import outbox_events

RULE = {"kind": "rule", "id": "rule-17", "name": "Escalate VIPs"}


def item(ticket_id: str, actions: list[dict[str, Any]], key: str | None = None, **extra: Any):
    return {
        "ticket_id": ticket_id,
        "idempotency_key": key or uuid.uuid4().hex,
        "batch": {"actor": RULE, "actions": actions, **extra},
    }


async def send(client, items):
    return await client.post("/v1/tickets/actions", json={"items": items})


async def results_of(client, items):
    response = await send(client, items)
    assert response.status_code == 200, response.text
    return response.json()["results"]


async def current(client, ticket_id: str):
    return (await client.get(f"/v1/tickets/{ticket_id}")).json()


def tags(tag: str) -> list[dict[str, Any]]:
    return [{"type": "add_tags", "tags": [tag]}]


async def test_each_write_back_gets_its_own_answer_and_a_refused_one_rolls_back_alone(
    api, client, service
):
    applied, stale, invalid = [await api.ticket() for _ in range(3)]
    items = [
        item(applied["id"], tags("vip"), key="applied"),
        item(str(uuid.uuid4()), tags("vip"), key="missing"),
        item(stale["id"], tags("vip"), key="stale", expected_version=stale["version"] + 5),
        item(
            invalid["id"],
            [*tags("vip"), {"type": "transfer", "department_id": str(uuid.uuid4())}],
            key="invalid",
        ),
    ]
    results = await results_of(service, items)

    assert [(r["status"], r["replayed"]) for r in results] == [
        (200, False),
        (404, False),
        (409, False),
        (422, False),
    ]
    assert results[0]["body"]["ticket"]["tags"] == ["vip"]
    assert results[0]["body"]["ticket"] == await current(client, applied["id"])
    assert results[1]["body"]["error"]["code"] == "not_found"
    assert results[2]["body"]["error"]["code"] == "version_mismatch"
    assert results[3]["body"]["error"]["code"] == "unknown_reference"
    assert results[3]["body"]["error"]["message"].startswith("actions[1] (transfer)")
    # The refused write-backs changed nothing, not even their first actions.
    assert (await current(client, stale["id"]))["tags"] == []
    assert (await current(client, invalid["id"]))["tags"] == []


async def test_each_answer_is_what_the_single_endpoint_gives(api, service):
    ticket = await api.ticket()
    refused = item(ticket["id"], tags("vip"), expected_version=ticket["version"] + 1)
    [batched] = await results_of(service, [refused])
    alone = await service.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json=refused["batch"],
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (batched["status"], batched["body"]) == (alone.status_code, alone.json())


async def test_a_refused_key_is_retried_for_real_and_an_applied_one_replays(api, client, service):
    # The refused write-back's ticket sorts first, so it is refused before the other is
    # applied in the same round: its rollback must not take the other's claim with it.
    ticket, other = sorted([await api.ticket(), await api.ticket()], key=lambda t: t["id"])
    stale = item(ticket["id"], tags("late"), key="retry-me", expected_version=ticket["version"] + 1)
    applied = item(other["id"], tags("once"), key="apply-once")
    first = await results_of(service, [stale, applied])
    assert [r["status"] for r in first] == [409, 200]

    stale["batch"]["expected_version"] = ticket["version"]
    again = await results_of(service, [stale, applied])
    assert [(r["status"], r["replayed"]) for r in again] == [(200, False), (200, True)]
    assert again[0]["body"]["ticket"]["tags"] == ["late"]
    assert again[1]["body"] == first[1]["body"]
    # Replayed, not applied twice: one change in the ticket's version.
    assert (await current(client, other["id"]))["version"] == other["version"] + 1


async def test_a_key_reused_with_another_batch_is_refused_for_that_write_back(api, service):
    ticket = await api.ticket()
    [first] = await results_of(service, [item(ticket["id"], tags("a"), key="reused")])
    assert first["status"] == 200
    results = await results_of(
        service,
        [item(ticket["id"], tags("b"), key="reused"), item(ticket["id"], tags("c"))],
    )
    assert results[0]["status"] == 422
    assert results[0]["body"]["error"]["code"] == "idempotency_key_reused"
    assert results[1]["status"] == 200
    assert sorted(results[1]["body"]["ticket"]["tags"]) == ["a", "c"]


async def test_a_key_applied_alone_replays_in_a_batch(api, service):
    ticket = await api.ticket()
    write_back = item(ticket["id"], tags("vip"))
    alone = await service.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json=write_back["batch"],
        headers={"Idempotency-Key": write_back["idempotency_key"]},
    )
    assert alone.status_code == 200, alone.text
    [batched] = await results_of(service, [write_back])
    assert (batched["status"], batched["replayed"]) == (200, True)
    assert batched["body"] == alone.json()


async def test_write_backs_to_one_ticket_apply_in_request_order(api, service):
    first, second = sorted([await api.ticket(), await api.ticket()], key=lambda t: t["id"])
    version = second["version"]
    # The later ticket's write-backs first, each made for the version the one before leaves.
    items = [
        item(second["id"], tags("one"), expected_version=version),
        item(first["id"], tags("other")),
        item(second["id"], tags("two"), expected_version=version + 1),
        item(second["id"], tags("three"), expected_version=version + 2),
    ]
    results = await results_of(service, items)
    assert [r["status"] for r in results] == [200, 200, 200, 200], results
    assert results[3]["body"]["ticket"]["tags"] == ["one", "two", "three"]
    assert results[1]["body"]["ticket"]["id"] == first["id"]


async def test_two_requests_locking_the_same_tickets_in_opposite_orders_both_apply(
    api, client, service
):
    tickets = [await api.ticket() for _ in range(12)]
    forward = [item(t["id"], tags("forward")) for t in tickets]
    backward = [item(t["id"], tags("backward")) for t in reversed(tickets)]
    answers = await asyncio.gather(*(send(service, items) for items in (forward, backward) * 2))
    for response in answers:
        assert response.status_code == 200, response.text
        assert {r["status"] for r in response.json()["results"]} == {200}
    for ticket in tickets:
        assert sorted((await current(client, ticket["id"]))["tags"]) == ["backward", "forward"]


async def test_an_empty_request_is_refused(service):
    error = error_of(await send(service, []), 422)
    assert fields_named(error) == ["items"]


async def test_more_write_backs_than_the_limit_are_refused_naming_it(api, service):
    ticket = await api.ticket()
    error = error_of(await send(service, [item(ticket["id"], tags("x")) for _ in range(201)]), 422)
    assert fields_named(error) == ["items"]
    assert "200" in error["message"]
    assert (await current(service, ticket["id"]))["tags"] == []


async def test_the_same_key_twice_in_one_request_is_refused_naming_both(api, service):
    ticket = await api.ticket()
    items = [
        item(ticket["id"], tags("a"), key="twice"),
        item(ticket["id"], tags("b")),
        item(ticket["id"], tags("c"), key="twice"),
    ]
    error = error_of(await send(service, items), 422)
    assert "items[0], items[2]" in error["message"]
    assert (await current(service, ticket["id"]))["tags"] == []


async def test_an_invalid_write_back_refuses_the_request_naming_it(api, service):
    ticket = await api.ticket()
    items = [item(ticket["id"], tags("a")), item(ticket["id"], [{"type": "fly"}])]
    error = error_of(await send(service, items), 422)
    assert fields_named(error)[0].startswith("items[1].batch.actions[0]")


async def test_agents_may_not_send_write_backs(api, client, as_agent):
    ticket = await api.ticket()
    _, agent = await as_agent()
    error_of(await send(agent, [item(ticket["id"], tags("a"))]), 403)
    assert (await current(client, ticket["id"]))["tags"] == []


async def test_a_write_back_to_no_ticket_leaves_its_key_unclaimed(api, client, service):
    ticket = await api.ticket()
    missing = item(str(uuid.uuid4()), tags("gone"), key="no-ticket-yet")
    applied = item(ticket["id"], tags("here"))
    results = await results_of(service, [missing, applied])
    assert [r["status"] for r in results] == [404, 200]
    # The key was given up with the refusal: used again for a ticket that exists, it applies.
    missing["ticket_id"] = ticket["id"]
    [again] = await results_of(service, [missing])
    assert (again["status"], again["replayed"]) == (200, False)
    assert sorted((await current(client, ticket["id"]))["tags"]) == ["gone", "here"]


async def test_a_key_postgresql_cannot_store_is_refused_for_that_write_back_alone(api, service):
    ticket = await api.ticket()
    results = await results_of(
        service, [item(ticket["id"], tags("nul"), key="bad\x00key"), item(ticket["id"], tags("ok"))]
    )
    assert [r["status"] for r in results] == [422, 200]
    assert "NUL" in results[0]["body"]["error"]["message"]


async def test_a_write_the_database_refuses_rolls_back_alone(api, client, service, database_url):
    # PostgreSQL's text holds no NUL character: the write-back passes every check before
    # its write, and the database refuses the write itself.
    first, refused, last = [await api.ticket() for _ in range(3)]
    before = len(await outbox_events(database_url))
    items = [
        item(first["id"], tags("one")),
        item(refused["id"], tags("nul\x00tag"), key="refused-by-postgresql"),
        item(last["id"], tags("two")),
    ]
    results = await results_of(service, items)

    assert [(r["status"], r["replayed"]) for r in results] == [
        (200, False),
        (422, False),
        (200, False),
    ]
    alone = await service.post(
        f"/v1/tickets/{refused['id']}/actions",
        json=items[1]["batch"],
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (alone.status_code, alone.json()) == (422, results[1]["body"])
    assert results[0]["body"]["ticket"] == await current(client, first["id"])
    assert results[2]["body"]["ticket"] == await current(client, last["id"])
    assert await current(client, refused["id"]) == refused
    # Each applied write-back's events once, as its answer names them (in ticket id order).
    published = [e["id"] for e in (await outbox_events(database_url))[before:]]
    assert sorted(published) == sorted(
        results[0]["body"]["event_ids"] + results[2]["body"]["event_ids"]
    )
    for ticket in (first, last):
        assert [h["action"] for h in await history(client, ticket["id"])] == [
            "created",
            "tags_changed",
        ]
    # The refused one's key was given up: sent again, it runs again (and is refused again).
    [again] = await results_of(service, [items[1]])
    assert (again["status"], again["replayed"]) == (422, False)


async def test_purges_and_changes_in_one_round_are_written_in_their_order(api, client, service):
    # Each purge writes the deletion, then removes the ticket, then stores its answer; the
    # tagged tickets' writes are one statement each, of one shape, between and around them.
    tickets = [await api.ticket() for _ in range(6)]
    purge = [{"type": "delete"}, {"type": "purge"}]
    plans = [purge, tags("a"), tags("b"), purge, tags("c"), tags("d")]
    items = [item(t["id"], plan) for t, plan in zip(tickets, plans, strict=True)]
    results = await results_of(service, items)

    assert [r["status"] for r in results] == [200] * 6
    for ticket, plan, result in zip(tickets, plans, results, strict=True):
        if plan is purge:
            assert result["body"]["purged"] is True
            error_of(await client.get(f"/v1/tickets/{ticket['id']}"), 404)
            actions = [h["action"] for h in await history(client, ticket["id"])]
            assert actions == ["created", "deleted", "deleted", "purged"]
        else:
            assert result["body"]["ticket"] == await current(client, ticket["id"])
            assert result["body"]["ticket"]["tags"] == plan[0]["tags"]
    # Every answer was stored under its key: sent again, each replays.
    again = await results_of(service, items)
    assert [(r["status"], r["replayed"]) for r in again] == [(200, True)] * 6
    assert [r["body"] for r in again] == [r["body"] for r in results]


async def test_write_backs_changing_nothing_store_their_answers(api, client, service):
    # No change to write: each stores only its answer, the round's in one run.
    tickets = [await api.ticket() for _ in range(3)]
    nothing = [{"type": "set_custom_fields", "values": {}}]
    items = [item(t["id"], nothing) for t in tickets]
    results = await results_of(service, items)

    assert [r["status"] for r in results] == [200] * 3
    for ticket, result in zip(tickets, results, strict=True):
        assert result["body"] == {"ticket": ticket, "purged": False, "event_ids": []}
    again = await results_of(service, items)
    assert [(r["status"], r["replayed"]) for r in again] == [(200, True)] * 3
    assert [r["body"] for r in again] == [r["body"] for r in results]
