"""API keys and roles: who may do what, and what an agent may see."""

from __future__ import annotations

import uuid

from .helpers import error_of, history, ticket_ids


async def test_no_key_is_401_with_a_clear_message(app, client_for):
    async with client_for("x") as c:
        c.headers.pop("Authorization")
        for method, path in [
            ("GET", "/v1/tickets"),
            ("POST", "/v1/tickets"),
            ("GET", "/v1/departments"),
            ("GET", f"/v1/tickets/{uuid.uuid4()}/history"),
        ]:
            response = await c.request(method, path, json={"subject": "x"})
            error = error_of(response, 401, "unauthorized")
            assert "Authorization: Bearer" in error["message"], (method, path)


async def test_bad_keys_are_401(api, client_for, client):
    for header in ("Bearer wrong-key", "Basic dGVzdDp0ZXN0", "Bearer ", "test-admin-key"):
        async with client_for("x") as c:
            c.headers["Authorization"] = header
            response = await c.post("/v1/tickets", json={"subject": "sneaky"})
            error_of(response, 401, "unauthorized")
    assert await ticket_ids(client) == set()


async def test_agent_sees_only_tickets_of_its_departments_or_assigned_to_it(api, client, as_agent):
    support, sales = await api.department("Support"), await api.department("Sales")
    agent, agent_client = await as_agent([support["id"]])
    in_support = await api.ticket(department_id=support["id"])
    in_sales = await api.ticket(department_id=sales["id"])
    nowhere = await api.ticket()
    assigned_without_department = await api.ticket(agent_id=agent["id"])

    visible = {in_support["id"], assigned_without_department["id"]}
    assert await ticket_ids(agent_client) == visible
    assert await ticket_ids(agent_client, department_id=sales["id"]) == set()
    assert await ticket_ids(client) == visible | {in_sales["id"], nowhere["id"]}

    assert (await agent_client.get(f"/v1/tickets/{in_support['id']}")).status_code == 200
    for hidden in (in_sales, nowhere):
        tid = hidden["id"]
        for method, path, body in [
            ("GET", "", None),
            ("PATCH", "", {"priority": "low"}),
            ("DELETE", "", None),
            ("GET", "/messages", None),
            ("POST", "/messages", {"author_kind": "agent", "body": "hi"}),
            ("GET", "/history", None),
            ("GET", "/ratings", None),
            ("POST", "/transfer", {"department_id": support["id"]}),
            ("POST", "/tags", {"tags": ["x"]}),
            ("POST", "/restore", None),
            ("POST", "/not-spam", None),
        ]:
            response = await agent_client.request(method, f"/v1/tickets/{tid}{path}", json=body)
            error_of(response, 404, "not_found")
        # Nothing about the hidden ticket changed.
        assert (await client.get(f"/v1/tickets/{tid}")).json() == hidden
        assert len(await history(client, tid)) == 1


async def test_agent_visibility_follows_departments(api, client, as_agent):
    support, sales = await api.department(), await api.department()
    agent, agent_client = await as_agent([support["id"]])
    ticket = await api.ticket(department_id=support["id"])
    assert await ticket_ids(agent_client) == {ticket["id"]}

    # The ticket moves away: the agent loses sight of it.
    await client.post(f"/v1/tickets/{ticket['id']}/transfer", json={"department_id": sales["id"]})
    assert await ticket_ids(agent_client) == set()
    error_of(await agent_client.get(f"/v1/tickets/{ticket['id']}"), 404)

    # The agent moves after it: they see it again at once.
    await client.patch(f"/v1/agents/{agent['id']}", json={"department_ids": [sales["id"]]})
    assert await ticket_ids(agent_client) == {ticket["id"]}
    assert (await agent_client.get(f"/v1/tickets/{ticket['id']}")).status_code == 200


async def test_admin_only_endpoints_refuse_agent_and_service_keys(api, as_agent, service):
    dept = await api.department()
    agent, agent_client = await as_agent([dept["id"]])
    attempts = [
        ("POST", "/v1/departments", {"name": "Rogue"}),
        ("PATCH", f"/v1/departments/{dept['id']}", {"name": "Rogue"}),
        ("DELETE", f"/v1/departments/{dept['id']}", None),
        ("POST", "/v1/agents", {"name": "X", "email": "x@example.com"}),
        ("PATCH", f"/v1/agents/{agent['id']}", {"role": "admin"}),
        ("POST", "/v1/api-keys", {"name": "mine", "role": "admin"}),
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/custom-fields", {"key": "k", "label": "K", "type": "text"}),
        ("POST", "/v1/tags", {"name": "t"}),
        ("POST", "/v1/customer-groups", {"name": "G"}),
    ]
    for c, role in ((agent_client, "agent"), (service, "service")):
        for method, path, body in attempts:
            response = await c.request(method, path, json=body)
            error = error_of(response, 403, "forbidden")
            assert role in error["message"], (method, path)
    departments = (await service.get("/v1/departments")).json()["items"]
    assert [d["name"] for d in departments] == [dept["name"]]
    assert (await service.get(f"/v1/agents/{agent['id']}")).json()["role"] == "agent"


async def test_agent_cannot_call_actions_but_service_and_admin_can(api, client, service, as_agent):
    dept = await api.department()
    _, agent_client = await as_agent([dept["id"]])
    ticket = await api.ticket(department_id=dept["id"])
    body = {"actor": {"kind": "rule", "id": "r1"}, "actions": [{"type": "resolve"}]}
    url = f"/v1/tickets/{ticket['id']}/actions"
    error_of(await agent_client.post(url, json=body, headers={"Idempotency-Key": "k"}), 403)
    assert (await client.get(f"/v1/tickets/{ticket['id']}")).json()["status"] == "new"

    by_service = await service.post(url, json=body, headers={"Idempotency-Key": "k"})
    assert by_service.status_code == 200, by_service.text
    assert by_service.json()["ticket"]["status"] == "resolved"
    body["actions"] = [{"type": "set_priority", "priority": "high"}]
    by_admin = await client.post(url, json=body, headers={"Idempotency-Key": "k2"})
    assert by_admin.status_code == 200, by_admin.text


async def test_agents_can_work_their_tickets(api, client, as_agent):
    dept = await api.department()
    agent, agent_client = await as_agent([dept["id"]], name="Alice")
    created = await agent_client.post(
        "/v1/tickets", json={"subject": "Phoned in", "department_id": dept["id"]}
    )
    assert created.status_code == 201
    ticket = created.json()
    patched = await agent_client.patch(f"/v1/tickets/{ticket['id']}", json={"priority": "high"})
    assert patched.status_code == 200
    customer = await agent_client.post("/v1/customers", json={"email": "c@example.com"})
    assert customer.status_code == 201
    items = await history(client, ticket["id"])
    assert {h["actor"]["kind"] for h in items} == {"agent"}
    assert items[0]["actor"] == {"kind": "agent", "id": agent["id"], "name": "Alice"}


async def test_deactivated_agent_loses_access(api, client, as_agent):
    dept = await api.department()
    agent, agent_client = await as_agent([dept["id"]])
    assert (await agent_client.get("/v1/tickets")).status_code == 200
    await client.patch(f"/v1/agents/{agent['id']}", json={"active": False})
    error_of(await agent_client.get("/v1/tickets"), 401, "unauthorized")
    await client.patch(f"/v1/agents/{agent['id']}", json={"active": True})
    assert (await agent_client.get("/v1/tickets")).status_code == 200
