"""Status rules, spam, soft delete, restore and purge."""

from __future__ import annotations

from datetime import datetime

from .helpers import entries, error_of, history, ticket_ids


async def patch(client, ticket, **body):
    return await client.patch(f"/v1/tickets/{ticket['id']}", json=body)


async def current(client, ticket):
    response = await client.get(f"/v1/tickets/{ticket['id']}")
    assert response.status_code == 200, response.text
    return response.json()


# -- status rules ----------------------------------------------------------------------------


async def test_agent_can_set_any_regular_status(api, client):
    for status in ["open", "answered", "resolved", "postponed", "spam"]:
        ticket = await api.ticket()
        response = await patch(client, ticket, status=status)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        [change] = entries(await history(client, ticket["id"]), "status_changed", "status")
        assert (change["before"], change["after"]) == ("new", status)


async def test_ticket_cannot_go_back_to_new(api, client):
    ticket = await api.ticket()
    # Setting new on a new ticket is no change at all.
    same = await patch(client, ticket, status="new")
    assert same.status_code == 200
    assert same.json()["version"] == ticket["version"]

    assert (await patch(client, ticket, status="open")).status_code == 200
    error = error_of(await patch(client, ticket, status="new"), 409, "invalid_transition")
    assert "new" in error["message"]
    assert (await current(client, ticket))["status"] == "open"


async def test_deleted_is_not_settable_through_patch(api, client):
    ticket = await api.ticket()
    error = error_of(await patch(client, ticket, status="deleted"), 422, "invalid_transition")
    assert "DELETE" in error["message"]
    after = await current(client, ticket)
    assert after["status"] == "new"
    assert after["deleted_at"] is None


async def test_chatting_only_for_chat_tickets(api, client):
    email = await api.ticket(channel="email")
    error_of(await patch(client, email, status="chatting"), 409, "invalid_transition")
    error_of(await patch(client, email, status="calling"), 409, "invalid_transition")
    assert (await current(client, email))["status"] == "new"

    chat = await api.ticket(channel="chat")
    assert (await patch(client, chat, status="chatting")).json()["status"] == "chatting"
    error_of(await patch(client, chat, status="calling"), 409, "invalid_transition")
    call = await api.ticket(channel="call")
    assert (await patch(client, call, status="calling")).json()["status"] == "calling"


# -- spam ------------------------------------------------------------------------------------


async def test_mark_spam_and_not_spam(api, client):
    ticket = await api.ticket()
    spam = (await patch(client, ticket, status="spam")).json()
    assert spam["status"] == "spam"
    assert spam["deleted_at"] is None

    back = await client.post(f"/v1/tickets/{ticket['id']}/not-spam")
    assert back.status_code == 200
    # Nobody answered yet, so it is new again.
    assert back.json()["status"] == "new"
    changes = entries(await history(client, ticket["id"]), "status_changed", "status")
    assert [(c["before"], c["after"]) for c in changes] == [("new", "spam"), ("spam", "new")]


async def test_not_spam_on_an_answered_ticket_reopens_it(api, client):
    ticket = await api.ticket()
    await client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"author_kind": "agent", "body": "hi"}
    )
    await patch(client, ticket, status="spam")
    back = (await client.post(f"/v1/tickets/{ticket['id']}/not-spam")).json()
    assert back["status"] == "open"

    # On a ticket that is not spam, not-spam changes nothing.
    await patch(client, ticket, status="resolved")
    response = await client.post(f"/v1/tickets/{ticket['id']}/not-spam")
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"


# -- delete and restore ----------------------------------------------------------------------


async def test_delete_is_a_soft_delete(api, client, clock):
    ticket = await api.ticket()
    clock.advance(minutes=3)
    response = await client.delete(f"/v1/tickets/{ticket['id']}")
    assert response.status_code == 200
    deleted = response.json()
    assert deleted["status"] == "deleted"
    assert datetime.fromisoformat(deleted["deleted_at"]) == clock.now()
    # Still readable by id, hidden from the default list.
    assert (await current(client, ticket))["status"] == "deleted"
    assert ticket["id"] not in await ticket_ids(client)
    assert ticket["id"] in await ticket_ids(client, include_deleted="true")

    [status, deleted_at] = entries(await history(client, ticket["id"]), "deleted")
    assert (status["field"], status["before"], status["after"]) == ("status", "new", "deleted")
    assert deleted_at["field"] == "deleted_at"
    assert deleted_at["before"] is None
    assert datetime.fromisoformat(deleted_at["after"]) == clock.now()

    # Deleting again changes nothing.
    again = await client.delete(f"/v1/tickets/{ticket['id']}")
    assert again.status_code == 200
    assert again.json()["version"] == deleted["version"]
    assert len(entries(await history(client, ticket["id"]), "deleted", "status")) == 1


async def test_deleted_ticket_cannot_be_edited_until_restored(api, client):
    ticket = await api.ticket()
    deleted = (await client.delete(f"/v1/tickets/{ticket['id']}")).json()
    edits = [
        ("PATCH", "", {"priority": "urgent"}),
        ("PATCH", "", {"status": "open"}),
        ("PATCH", "", {"status": "spam"}),
        ("POST", "/transfer", {"department_id": None}),
        ("POST", "/tags", {"tags": ["x"]}),
        ("DELETE", "/tags/x", None),
        ("POST", "/messages", {"body": "hello?"}),
        ("POST", "/not-spam", None),
    ]
    for method, path, body in edits:
        url = f"/v1/tickets/{ticket['id']}{path}"
        response = await client.request(method, url, json=body)
        assert "restore" in error_of(response, 409, "ticket_deleted")["message"], (method, path)
    assert await current(client, ticket) == deleted
    assert len(await history(client, ticket["id"])) == 3  # created, deleted x2 fields

    restored = await client.post(f"/v1/tickets/{ticket['id']}/restore")
    assert restored.status_code == 200
    for method, path, body in edits:
        url = f"/v1/tickets/{ticket['id']}{path}"
        again = await client.request(method, url, json=body)
        assert again.status_code in (200, 201), (method, path, again.text)


async def test_restore_brings_the_ticket_back(api, client):
    ticket = await api.ticket()
    await client.delete(f"/v1/tickets/{ticket['id']}")
    restored = (await client.post(f"/v1/tickets/{ticket['id']}/restore")).json()
    assert restored["status"] == "new"
    assert restored["deleted_at"] is None
    assert ticket["id"] in await ticket_ids(client)
    [status, deleted_at] = entries(await history(client, ticket["id"]), "restored")
    assert (status["before"], status["after"]) == ("deleted", "new")
    assert deleted_at["after"] is None

    # Restoring a ticket that is not deleted changes nothing.
    again = await client.post(f"/v1/tickets/{ticket['id']}/restore")
    assert again.status_code == 200
    assert again.json()["version"] == restored["version"]
    assert len(entries(await history(client, ticket["id"]), "restored")) == 2


async def test_restore_of_an_answered_ticket_reopens_it(api, client):
    ticket = await api.ticket()
    await client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"author_kind": "agent", "body": "hi"}
    )
    await client.delete(f"/v1/tickets/{ticket['id']}")
    restored = (await client.post(f"/v1/tickets/{ticket['id']}/restore")).json()
    assert restored["status"] == "open"


# -- purge -----------------------------------------------------------------------------------


async def test_purge_removes_a_deleted_ticket_but_keeps_its_history(api, client):
    ticket = await api.ticket()
    await client.delete(f"/v1/tickets/{ticket['id']}")
    before = await history(client, ticket["id"])

    response = await client.post(f"/v1/tickets/{ticket['id']}/purge")
    assert response.status_code == 204
    assert response.content == b""
    error_of(await client.get(f"/v1/tickets/{ticket['id']}"), 404, "not_found")
    error_of(await client.get(f"/v1/tickets/{ticket['id']}/messages"), 404)
    assert ticket["id"] not in await ticket_ids(client, include_deleted="true")

    after = await history(client, ticket["id"])
    assert after[: len(before)] == before
    [purged] = entries(after, "purged")
    assert purged["actor"]["kind"] == "admin"
    assert purged is after[-1]


async def test_purge_of_a_spam_ticket(api, client, service):
    ticket = await api.ticket()
    await patch(client, ticket, status="spam")
    assert (await client.post(f"/v1/tickets/{ticket['id']}/purge")).status_code == 204
    error_of(await client.get(f"/v1/tickets/{ticket['id']}"), 404)
    # Services keep reading the history of purged tickets too.
    response = await service.get(f"/v1/tickets/{ticket['id']}/history")
    assert response.status_code == 200
    assert response.json()["items"][-1]["action"] == "purged"


async def test_purge_of_a_live_ticket_is_refused(api, client):
    for status in ["new", "open", "resolved"]:
        ticket = await api.ticket()
        if status != "new":
            await patch(client, ticket, status=status)
        error = error_of(
            await client.post(f"/v1/tickets/{ticket['id']}/purge"), 409, "invalid_transition"
        )
        assert status in error["message"]
        assert (await current(client, ticket))["status"] == status
        assert entries(await history(client, ticket["id"]), "purged") == []


async def test_purge_needs_the_admin_role(api, client, service, as_agent):
    dept = await api.department()
    _, agent_client = await as_agent([dept["id"]])
    ticket = await api.ticket(department_id=dept["id"])
    await client.delete(f"/v1/tickets/{ticket['id']}")
    error_of(await agent_client.post(f"/v1/tickets/{ticket['id']}/purge"), 403, "forbidden")
    error_of(await service.post(f"/v1/tickets/{ticket['id']}/purge"), 403, "forbidden")
    assert (await current(client, ticket))["status"] == "deleted"
    unknown = "00000000-0000-0000-0000-000000000000"
    error_of(await client.post(f"/v1/tickets/{unknown}/purge"), 404, "not_found")


async def test_history_of_a_purged_ticket_is_hidden_from_agents(api, client, as_agent):
    dept = await api.department()
    _, agent_client = await as_agent([dept["id"]])
    ticket = await api.ticket(department_id=dept["id"])
    assert (await agent_client.get(f"/v1/tickets/{ticket['id']}/history")).status_code == 200
    await client.delete(f"/v1/tickets/{ticket['id']}")
    await client.post(f"/v1/tickets/{ticket['id']}/purge")
    error_of(await agent_client.get(f"/v1/tickets/{ticket['id']}/history"), 404)
