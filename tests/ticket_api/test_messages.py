"""Messages: customer messages, agent replies, internal notes, and what they do to a ticket."""

from __future__ import annotations

from datetime import datetime

from .helpers import entries, error_of, history, pages


async def post_message(client, ticket, **body):
    response = await client.post(f"/v1/tickets/{ticket['id']}/messages", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def current(client, ticket):
    return (await client.get(f"/v1/tickets/{ticket['id']}")).json()


async def test_customer_message_reopens_a_ticket_waiting_on_the_customer(api, client):
    for waiting in ["resolved", "answered", "postponed"]:
        ticket = await api.ticket(customer={"email": "cleo@example.com", "name": "Cleo Customer"})
        await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": waiting})

        message = await post_message(client, ticket, body="Still broken")
        assert message["author_kind"] == "customer"
        assert message["author_id"] == ticket["customer_id"]
        assert message["from"] == "cleo@example.com"
        assert (await current(client, ticket))["status"] == "open"

        items = await history(client, ticket["id"])
        reopened = entries(items, "status_changed", "status")[-1]
        assert (reopened["before"], reopened["after"]) == (waiting, "open")
        assert reopened["actor"] == {
            "kind": "customer",
            "id": ticket["customer_id"],
            "name": "Cleo Customer",
        }
        [added] = entries(items, "message_added")[-1:]
        assert added["actor"]["kind"] == "customer"
        assert added["after"]["message_id"] == message["id"]
        assert added["after"]["author_kind"] == "customer"


async def test_customer_message_keeps_new_open_and_spam(api, client):
    for status in ("new", "open", "spam"):
        ticket = await api.ticket()
        if status != "new":
            await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": status})
        await post_message(client, ticket, body="more details")
        assert (await current(client, ticket))["status"] == status


async def test_customer_message_times_come_from_the_clock(api, client, clock):
    created_at = clock.now()
    ticket = await api.ticket()
    clock.advance(hours=2)
    message = await post_message(client, ticket, body="hello?")
    second_at = clock.now()
    clock.advance(hours=3)
    await post_message(client, ticket, body="anyone?")
    third_at = clock.now()

    after = await current(client, ticket)
    assert datetime.fromisoformat(message["created_at"]) == second_at
    assert datetime.fromisoformat(after["first_customer_message_at"]) == created_at
    assert datetime.fromisoformat(after["last_customer_message_at"]) == third_at
    assert datetime.fromisoformat(after["last_message_at"]) == third_at
    assert datetime.fromisoformat(after["updated_at"]) == third_at
    assert after["message_count"] == 3
    assert after["last_message"]["body"] == "anyone?"
    assert after["first_agent_reply_at"] is None


async def test_agent_reply_answers_and_takes_an_unassigned_ticket(api, client, clock, as_agent):
    dept = await api.department()
    agent, agent_client = await as_agent([dept["id"]], name="Alice")
    ticket = await api.ticket(department_id=dept["id"])
    clock.advance(minutes=10)

    reply = await post_message(agent_client, ticket, author_kind="agent", body="On it")
    assert reply["author_kind"] == "agent"
    assert reply["author_id"] == agent["id"]

    after = await current(client, ticket)
    assert after["status"] == "answered"
    assert after["agent_id"] == agent["id"]
    assert after["department_id"] == dept["id"]
    assert datetime.fromisoformat(after["first_agent_reply_at"]) == clock.now()
    assert after["last_message_author"] == "agent"

    items = await history(client, ticket["id"])
    [taken] = entries(items, "transferred", "agent_id")
    assert (taken["before"], taken["after"]) == (None, agent["id"])
    assert taken["actor"] == {"kind": "agent", "id": agent["id"], "name": "Alice"}
    [answered] = entries(items, "status_changed", "status")
    assert (answered["before"], answered["after"]) == ("new", "answered")


async def test_agent_reply_does_not_take_a_ticket_someone_else_owns(api, client):
    dept = await api.department()
    owner = await api.agent([dept["id"]])
    helper = await api.agent([dept["id"]])
    ticket = await api.ticket(department_id=dept["id"], agent_id=owner["id"])
    await post_message(client, ticket, author_kind="agent", author_id=helper["id"], body="hi")
    after = await current(client, ticket)
    assert after["agent_id"] == owner["id"]
    assert after["status"] == "answered"
    assert entries(await history(client, ticket["id"]), "transferred") == []


async def test_first_agent_reply_time_is_kept_by_later_replies(api, client, clock):
    ticket = await api.ticket()
    await post_message(client, ticket, author_kind="agent", body="first")
    first_at = clock.now()
    clock.advance(hours=1)
    await post_message(client, ticket, body="customer again")
    clock.advance(hours=1)
    await post_message(client, ticket, author_kind="agent", body="second")
    after = await current(client, ticket)
    assert datetime.fromisoformat(after["first_agent_reply_at"]) == first_at
    assert datetime.fromisoformat(after["last_agent_reply_at"]) == clock.now()
    assert after["status"] == "answered"


async def test_agent_reply_on_a_resolved_ticket_marks_it_answered(api, client):
    ticket = await api.ticket()
    await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"})
    # A system message (e.g. a survey) changes no status.
    await post_message(client, ticket, author_kind="system", body="Survey sent")
    assert (await current(client, ticket))["status"] == "resolved"
    await post_message(client, ticket, author_kind="agent", body="one more thing")
    assert (await current(client, ticket))["status"] == "answered"


async def test_internal_note_changes_no_status_nor_last_message(api, client, clock, as_agent):
    dept = await api.department()
    agent, agent_client = await as_agent([dept["id"]])
    ticket = await api.ticket(department_id=dept["id"])
    before = await current(client, ticket)
    clock.advance(minutes=1)

    note = await post_message(
        agent_client, ticket, author_kind="agent", internal=True, body="VIP, be nice"
    )
    assert note["internal"] is True
    after = await current(client, ticket)
    assert after["status"] == "new"
    assert after["agent_id"] is None  # a note takes no responsibility
    assert after["last_message"] == before["last_message"]
    assert after["last_message_at"] == before["last_message_at"]
    assert after["first_agent_reply_at"] is None
    assert after["message_count"] == before["message_count"] + 1

    items = await history(client, ticket["id"])
    [noted] = entries(items, "note_added")
    assert noted["after"]["message_id"] == note["id"]
    assert noted["actor"]["id"] == agent["id"]
    assert entries(items, "status_changed") == []


async def test_customer_cannot_write_internal_notes(api, client):
    ticket = await api.ticket()
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"author_kind": "customer", "internal": True, "body": "psst"},
    )
    assert "internal" in error_of(response, 422)["message"]
    messages = (await client.get(f"/v1/tickets/{ticket['id']}/messages")).json()["items"]
    assert len(messages) == 1
    assert (await current(client, ticket)) == ticket


async def test_agents_write_as_themselves(api, client, as_agent):
    dept = await api.department()
    agent, agent_client = await as_agent([dept["id"]])
    other = await api.agent([dept["id"]])
    ticket = await api.ticket(department_id=dept["id"])
    response = await agent_client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"author_kind": "customer", "body": "x"}
    )
    error_of(response, 403, "forbidden")
    # An agent cannot sign a message with someone else's id either.
    reply = await post_message(
        agent_client, ticket, author_kind="agent", author_id=other["id"], body="hi"
    )
    assert reply["author_id"] == agent["id"]
    assert (await current(client, ticket))["agent_id"] == agent["id"]


async def test_message_fields_are_stored(api, client):
    ticket = await api.ticket()
    message = await post_message(
        client,
        ticket,
        author_kind="agent",
        body="Reply",
        subject="Re: Printer",
        to=["customer@example.com"],
        cc=["a@example.com", "b@example.com"],
        bcc=["audit@example.com"],
        **{"from": "support@example.com"},
    )
    messages = (await client.get(f"/v1/tickets/{ticket['id']}/messages")).json()["items"]
    [stored] = [m for m in messages if m["id"] == message["id"]]
    assert stored == message
    assert stored["from"] == "support@example.com"
    assert stored["to"] == ["customer@example.com"]
    assert stored["cc"] == ["a@example.com", "b@example.com"]
    assert stored["bcc"] == ["audit@example.com"]
    assert stored["subject"] == "Re: Printer"


async def test_list_messages_oldest_first_with_pagination(api, client, clock):
    ticket = await api.ticket(message={"body": "m0"})
    for i in range(1, 7):
        if i % 2:
            clock.advance(seconds=30)
        await post_message(client, ticket, body=f"m{i}", author_kind="agent", internal=(i == 3))
    listed = await pages(client, f"/v1/tickets/{ticket['id']}/messages", limit=3)
    seen = [m["body"] for page in listed for m in page]
    assert len(listed) == 3
    assert sorted(seen) == [f"m{i}" for i in range(7)]
    assert len(seen) == len(set(seen))
    # Oldest first, ties broken consistently: pages match one big page.
    everything = (
        await client.get(f"/v1/tickets/{ticket['id']}/messages", params={"limit": 200})
    ).json()["items"]
    assert [m["body"] for m in everything] == seen
    times = [datetime.fromisoformat(m["created_at"]) for m in everything]
    assert times == sorted(times)
    assert seen[0] == "m0"

    public = (
        await client.get(
            f"/v1/tickets/{ticket['id']}/messages", params={"include_internal": "false"}
        )
    ).json()["items"]
    assert "m3" not in [m["body"] for m in public]
    assert len(public) == 6

    response = await client.get(
        f"/v1/tickets/{ticket['id']}/messages", params={"cursor": "not-a-cursor"}
    )
    error_of(response, 422, "invalid_cursor")


async def test_agent_reply_signed_by_an_unknown_agent_is_refused(api, client):
    ticket = await api.ticket()
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={
            "author_kind": "agent",
            "author_id": "00000000-0000-0000-0000-000000000009",
            "body": "hi",
        },
    )
    assert "author_id" in error_of(response, 422)["message"]
    assert (await current(client, ticket)) == ticket
    response = await client.post(
        "/v1/tickets/00000000-0000-0000-0000-000000000000/messages", json={"body": "hi"}
    )
    error_of(response, 404, "not_found")


async def test_message_with_idempotency_key_is_added_once(api, client):
    ticket = await api.ticket()
    headers = {"Idempotency-Key": "msg-1"}
    url = f"/v1/tickets/{ticket['id']}/messages"
    first = await client.post(url, json={"body": "once"}, headers=headers)
    again = await client.post(url, json={"body": "once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    messages = (await client.get(url)).json()["items"]
    assert [m["body"] for m in messages].count("once") == 1
    other = await client.post(url, json={"body": "different"}, headers=headers)
    error_of(other, 422, "idempotency_key_reused")
