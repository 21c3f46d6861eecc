"""Creating, reading, listing and editing tickets."""

from __future__ import annotations

import re
from datetime import datetime

from .helpers import all_tickets, entries, error_of, fields_named, history, pages, ticket_ids


async def define_field(client, key, type_, options=None):
    body = {"key": key, "label": key.title(), "type": type_}
    if options is not None:
        body["options"] = options
    response = await client.post("/v1/custom-fields", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# -- create ----------------------------------------------------------------------------------


async def test_create_returns_the_new_ticket_with_defaults(client, clock):
    response = await client.post(
        "/v1/tickets",
        json={"subject": "  Printer on fire  ", "customer": {"email": "cleo@example.com"}},
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["subject"] == "Printer on fire"
    assert ticket["status"] == "new"
    assert ticket["channel"] == "api"
    assert ticket["priority"] == "medium"
    assert ticket["department_id"] is None
    assert ticket["agent_id"] is None
    assert ticket["customer_email"] == "cleo@example.com"
    assert ticket["tags"] == []
    assert ticket["custom_fields"] == {}
    assert ticket["message_count"] == 0
    assert ticket["last_message"] is None
    assert ticket["deleted_at"] is None
    assert ticket["version"] == 1
    assert datetime.fromisoformat(ticket["created_at"]) == clock.now()
    assert ticket["updated_at"] == ticket["created_at"]

    fetched = await client.get(f"/v1/tickets/{ticket['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == ticket

    # A ticket needs neither a customer nor a message.
    response = await client.post("/v1/tickets", json={"subject": "Internal task"})
    assert response.status_code == 201
    assert response.json()["customer_id"] is None
    assert response.json()["message_count"] == 0


async def test_ticket_codes_are_sequential_t_000001_style(api):
    codes = [(await api.ticket(subject=f"ticket {i}"))["code"] for i in range(3)]
    assert codes == ["T-000001", "T-000002", "T-000003"]
    assert all(re.fullmatch(r"T-\d{6}", c) for c in codes)


async def test_customer_is_found_by_email_on_the_next_ticket(api, client):
    first = await api.ticket(customer={"email": "Cleo@Example.com", "name": "Cleo"})
    second = await api.ticket(customer={"email": "cleo@example.com"})
    assert first["customer_id"] is not None
    assert second["customer_id"] == first["customer_id"]
    assert second["customer_email"] == "cleo@example.com"

    customers = (await client.get("/v1/customers", params={"email": "cleo@example.com"})).json()
    assert [c["id"] for c in customers["items"]] == [first["customer_id"]]
    # The second ticket brought no name, so the customer keeps theirs.
    assert customers["items"][0]["name"] == "Cleo"

    other = await api.ticket(customer={"email": "someone-else@example.com"})
    assert other["customer_id"] != first["customer_id"]

    # Or name the customer by id.
    by_id = await api.ticket(customer=None, customer_id=other["customer_id"])
    assert by_id["customer_id"] == other["customer_id"]
    assert by_id["customer_email"] == "someone-else@example.com"


async def test_create_with_department_and_agent(api, client):
    dept = await api.department("Support")
    agent = await api.agent([dept["id"]], name="Alice", availability={"email": "online"})
    ticket = await api.ticket(department_id=dept["id"], agent_id=agent["id"])
    assert ticket["department_id"] == dept["id"]
    assert ticket["agent_id"] == agent["id"]
    assert ticket["agent_status"] == "online"

    [created] = entries(await history(client, ticket["id"]), "created")
    assert created["after"]["department_id"] == dept["id"]
    assert created["after"]["agent_id"] == agent["id"]

    # A department alone leaves the ticket unassigned there.
    waiting = await api.ticket(department_id=dept["id"])
    assert waiting["department_id"] == dept["id"]
    assert waiting["agent_id"] is None
    assert waiting["agent_status"] is None


async def test_create_with_agent_outside_the_department_is_refused(api, client):
    support, sales = await api.department(), await api.department()
    agent = await api.agent([sales["id"]])
    response = await client.post(
        "/v1/tickets",
        json={"subject": "x", "department_id": support["id"], "agent_id": agent["id"]},
    )
    assert "agent_id" in error_of(response, 422)["message"]
    assert await all_tickets(client) == []


async def test_create_with_tags_dedupes_and_registers_them(api, client):
    ticket = await api.ticket(tags=["vip", " billing ", "vip"])
    assert ticket["tags"] == ["vip", "billing"]
    names = {t["name"] for t in (await client.get("/v1/tags")).json()["items"]}
    assert {"vip", "billing"} <= names


async def test_create_with_custom_fields(api, client):
    await define_field(client, "order_no", "number")
    await define_field(client, "plan", "select", ["free", "pro"])
    await define_field(client, "note", "text")
    await define_field(client, "vip", "boolean")
    await define_field(client, "renewal", "date")
    ticket = await api.ticket(
        custom_fields={
            "order_no": 1234,
            "plan": "pro",
            "note": "hi",
            "vip": True,
            "renewal": "2026-03-01",
        }
    )
    assert ticket["custom_fields"] == {
        "order_no": 1234,
        "plan": "pro",
        "note": "hi",
        "vip": True,
        "renewal": "2026-03-01",
    }
    fetched = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert fetched["custom_fields"] == ticket["custom_fields"]


async def test_create_with_invalid_custom_field_is_refused(client):
    await define_field(client, "order_no", "number")
    await define_field(client, "plan", "select", ["free", "pro"])
    await define_field(client, "vip", "boolean")
    await define_field(client, "renewal", "date")
    cases = [
        ({"order_no": "12"}, "order_no"),
        ({"order_no": True}, "order_no"),
        ({"plan": "enterprise"}, "plan"),
        ({"plan": 3}, "plan"),
        ({"vip": "yes"}, "vip"),
        ({"renewal": "next tuesday"}, "renewal"),
        ({"nope": 1}, "nope"),
    ]
    for values, field in cases:
        response = await client.post(
            "/v1/tickets",
            json={"subject": "x", "customer": {"email": "c@example.com"}, "custom_fields": values},
        )
        error = error_of(response, 422)
        assert f"custom_fields.{field}" in error["message"], values
    assert await all_tickets(client) == []
    # Nothing half-written either: the customer was not created.
    assert (await client.get("/v1/customers")).json()["items"] == []


async def test_create_with_first_message(api, client, clock):
    ticket = await api.ticket(
        subject="Refund",
        customer={"email": "cleo@example.com", "name": "Cleo"},
        message={"body": "Please refund me.", "cc": ["boss@example.com"]},
    )
    assert ticket["message_count"] == 1
    assert ticket["status"] == "new"
    assert ticket["last_message"]["body"] == "Please refund me."
    assert ticket["last_message_author"] == "customer"
    assert ticket["first_customer_message_at"] == ticket["last_customer_message_at"]
    assert ticket["first_customer_message_at"] == ticket["created_at"]
    assert ticket["first_agent_reply_at"] is None

    messages = (await client.get(f"/v1/tickets/{ticket['id']}/messages")).json()["items"]
    assert len(messages) == 1
    m = messages[0]
    assert m["author_kind"] == "customer"
    assert m["author_id"] == ticket["customer_id"]
    assert m["from"] == "cleo@example.com"
    assert m["cc"] == ["boss@example.com"]
    assert m["subject"] == "Refund"
    assert m["internal"] is False


async def test_create_with_live_status_must_fit_the_channel(client):
    ok = await client.post(
        "/v1/tickets", json={"subject": "chat", "channel": "chat", "status": "chatting"}
    )
    assert ok.status_code == 201
    assert ok.json()["status"] == "chatting"
    bad = await client.post(
        "/v1/tickets", json={"subject": "mail", "channel": "email", "status": "chatting"}
    )
    error_of(bad, 409, "invalid_transition")
    assert len(await all_tickets(client)) == 1


# -- list ------------------------------------------------------------------------------------


async def test_list_filters(api, client, clock):
    support, sales = await api.department("Support"), await api.department("Sales")
    alice = await api.agent([support["id"]])
    bob = await api.agent([sales["id"]])
    t_alice = await api.ticket(department_id=support["id"], agent_id=alice["id"], tags=["vip"])
    t_support = await api.ticket(department_id=support["id"], priority="high")
    t_bob = await api.ticket(
        department_id=sales["id"], agent_id=bob["id"], channel="chat", tags=["vip", "x"]
    )
    t_plain = await api.ticket(priority="urgent", channel="web_form")
    t_deleted = await api.ticket(tags=["vip"])
    assert (await client.delete(f"/v1/tickets/{t_deleted['id']}")).status_code == 200
    t_spam = await api.ticket()
    assert (
        await client.patch(f"/v1/tickets/{t_spam['id']}", json={"status": "spam"})
    ).status_code == 200
    await client.post(
        f"/v1/tickets/{t_support['id']}/messages",
        json={"author_kind": "agent", "body": "on it"},
    )

    live = {t_alice["id"], t_support["id"], t_bob["id"], t_plain["id"], t_spam["id"]}
    assert await ticket_ids(client) == live
    assert await ticket_ids(client, include_deleted="true") == live | {t_deleted["id"]}
    assert await ticket_ids(client, status="deleted") == {t_deleted["id"]}
    assert await ticket_ids(client, status="spam") == {t_spam["id"]}
    assert await ticket_ids(client, status="answered") == {t_support["id"]}
    assert await ticket_ids(client, status=["answered", "spam"]) == {
        t_support["id"],
        t_spam["id"],
    }
    assert await ticket_ids(client, department_id=support["id"]) == {
        t_alice["id"],
        t_support["id"],
    }
    assert await ticket_ids(client, agent_id=bob["id"]) == {t_bob["id"]}
    assert await ticket_ids(client, unassigned="true") == {
        t_support["id"],
        t_plain["id"],
        t_spam["id"],
    }
    assert await ticket_ids(client, unassigned="false") == {t_alice["id"], t_bob["id"]}
    assert await ticket_ids(client, tag="vip") == {t_alice["id"], t_bob["id"]}
    assert await ticket_ids(client, tag="vip", include_deleted="true") == {
        t_alice["id"],
        t_bob["id"],
        t_deleted["id"],
    }
    assert await ticket_ids(client, tag="unknown") == set()
    assert await ticket_ids(client, channel="chat") == {t_bob["id"]}
    assert await ticket_ids(client, priority="urgent") == {t_plain["id"]}
    assert await ticket_ids(client, priority="high", department_id=support["id"]) == {
        t_support["id"]
    }
    assert await ticket_ids(client, customer_id=t_alice["customer_id"]) == live

    # Created after / before (every ticket above was created at the clock's start).
    clock.advance(hours=1)
    middle_at = clock.now()
    middle = await api.ticket()
    clock.advance(hours=1)
    late = await api.ticket()
    assert await ticket_ids(client, created_after=middle_at.isoformat()) == {
        middle["id"],
        late["id"],
    }
    assert await ticket_ids(client, created_before=middle_at.isoformat()) == live


async def test_cursor_pagination_has_no_duplicates_or_gaps(api, client, clock):
    created = []
    for i in range(11):
        created.append((await api.ticket(subject=f"t{i}"))["id"])
        # Several tickets share a timestamp: the cursor must break ties by id.
        if i % 3 == 0:
            clock.advance(seconds=1)
    listed = await pages(client, "/v1/tickets", limit=4)
    assert all(len(page) <= 4 for page in listed)
    seen = [t["id"] for page in listed for t in page]
    assert len(listed) == 3
    assert len(seen) == len(set(seen)) == 11
    assert set(seen) == set(created)
    # Newest first, in the same order as one big page.
    everything = await all_tickets(client)
    assert [t["id"] for t in everything] == seen
    assert seen[0] == created[-1]
    times = [datetime.fromisoformat(t["created_at"]) for t in everything]
    assert times == sorted(times, reverse=True)

    # Pages do not shift when new tickets arrive.
    for _ in range(4):
        await api.ticket()
        clock.advance(seconds=1)
    first = (await client.get("/v1/tickets", params={"limit": 2})).json()
    await api.ticket()  # newer than everything: must not appear on later pages
    second = (
        await client.get("/v1/tickets", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    ids = [t["id"] for t in first["items"] + second["items"]]
    assert len(set(ids)) == 4


async def test_list_rejects_bad_query_parameters(api, client):
    await api.ticket()
    cursors = [
        "garbage",
        "!!!",
        "W10",  # []
        "eyJhIjoxfQ",  # {"a":1}
        "WyJub3QtYS1kYXRlIiwibm90LWEtdXVpZCJd",  # ["not-a-date","not-a-uuid"]
        "WyIxIl0",  # ["1"] (a history cursor)
    ]
    for cursor in cursors:
        response = await client.get("/v1/tickets", params={"cursor": cursor})
        assert "cursor" in error_of(response, 422, "invalid_cursor")["message"], cursor

    for limit in ["0", "201", "-1", "many"]:
        response = await client.get("/v1/tickets", params={"limit": limit})
        assert "query.limit" in fields_named(error_of(response, 422)), limit

    for params in [
        {"status": "closed"},
        {"channel": "pigeon"},
        {"priority": "critical"},
        {"department_id": "not-a-uuid"},
        {"unassigned": "perhaps"},
        {"created_after": "yesterday"},
    ]:
        response = await client.get("/v1/tickets", params=params)
        error = error_of(response, 422, "invalid")
        name = f"query.{next(iter(params))}"
        assert any(f.startswith(name) for f in fields_named(error)), params


# -- patch -----------------------------------------------------------------------------------


async def test_patch_changes_fields_and_bumps_version(api, client, clock):
    await define_field(client, "order_no", "number")
    ticket = await api.ticket()
    later = clock.advance(minutes=5)
    changes = {
        "subject": "New subject",
        "priority": "urgent",
        "sla_level": "gold",
        "referrer_url": "https://example.com/pricing",
        "custom_fields": {"order_no": 7},
        "tags": ["a", "b"],
        "status": "open",
    }
    response = await client.patch(f"/v1/tickets/{ticket['id']}", json=changes)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert {field: patched[field] for field in changes} == changes
    assert patched["version"] == ticket["version"] + 1
    assert datetime.fromisoformat(patched["updated_at"]) == later
    assert patched["created_at"] == ticket["created_at"]
    assert patched["status_changed_at"] == patched["updated_at"]
    assert (await client.get(f"/v1/tickets/{ticket['id']}")).json() == patched


async def test_patch_leaves_omitted_fields_alone(api, client):
    ticket = await api.ticket(priority="high", tags=["keep"], sla_level="gold")
    before = await history(client, ticket["id"])
    # Same values: no change, no new version, nothing in the history.
    same = (await client.patch(f"/v1/tickets/{ticket['id']}", json={"priority": "high"})).json()
    assert same["version"] == ticket["version"]
    assert await history(client, ticket["id"]) == before

    patched = (
        await client.patch(f"/v1/tickets/{ticket['id']}", json={"subject": "Only this"})
    ).json()
    assert patched["priority"] == "high"
    assert patched["tags"] == ["keep"]
    assert patched["sla_level"] == "gold"
    assert [h["field"] for h in await history(client, ticket["id"])][1:] == ["subject"]


async def test_patch_custom_fields_merges_and_null_clears(api, client):
    await define_field(client, "order_no", "number")
    await define_field(client, "note", "text")
    ticket = await api.ticket(custom_fields={"order_no": 1, "note": "keep me"}, sla_level="gold")
    patched = (
        await client.patch(
            f"/v1/tickets/{ticket['id']}",
            json={"custom_fields": {"order_no": None}, "sla_level": None},
        )
    ).json()
    assert patched["custom_fields"] == {"note": "keep me"}
    assert patched["sla_level"] is None


async def test_patch_required_field_to_null_is_refused(api, client):
    ticket = await api.ticket()
    for field in ("subject", "status", "priority"):
        response = await client.patch(f"/v1/tickets/{ticket['id']}", json={field: None})
        assert field in error_of(response, 422)["message"]
    error_of(await client.patch(f"/v1/tickets/{ticket['id']}", json={}), 422)
    assert (await client.get(f"/v1/tickets/{ticket['id']}")).json() == ticket
    response = await client.patch(
        "/v1/tickets/00000000-0000-0000-0000-000000000000", json={"priority": "low"}
    )
    error_of(response, 404, "not_found")


async def test_patch_is_all_or_nothing(api, client):
    ticket = await api.ticket()
    response = await client.patch(
        f"/v1/tickets/{ticket['id']}",
        json={"priority": "urgent", "custom_fields": {"undefined_field": 1}},
    )
    error_of(response, 422)
    after = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert after["priority"] == "medium"
    assert after["version"] == ticket["version"]


async def test_tags_endpoints_add_and_remove(api, client):
    ticket = await api.ticket(tags=["a"])
    added = await client.post(f"/v1/tickets/{ticket['id']}/tags", json={"tags": ["b", "a", "c"]})
    assert added.status_code == 200
    assert added.json()["tags"] == ["a", "b", "c"]
    removed = await client.delete(f"/v1/tickets/{ticket['id']}/tags/b")
    assert removed.status_code == 200
    assert removed.json()["tags"] == ["a", "c"]
    # Removing a tag the ticket lacks changes nothing.
    again = await client.delete(f"/v1/tickets/{ticket['id']}/tags/b")
    assert again.json()["version"] == removed.json()["version"]
