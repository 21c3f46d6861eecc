"""The directory: departments, agents and availability, customers and groups, tags, custom
field definitions and API keys."""

from __future__ import annotations

import uuid
from typing import Any

from .helpers import error_of, fields_named

UNKNOWN = "00000000-0000-0000-0000-0000000000bb"


# -- departments -----------------------------------------------------------------------------


async def test_departments_crud(api, client):
    support = await api.department("Support")
    assert support["name"] == "Support"
    assert (await client.get(f"/v1/departments/{support['id']}")).json() == support
    sales = await api.department("Sales")
    listed = (await client.get("/v1/departments")).json()["items"]
    assert {d["id"] for d in listed} == {support["id"], sales["id"]}

    renamed = await client.patch(
        f"/v1/departments/{sales['id']}", json={"name": "Sales EU", "description": "Europe"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Sales EU"
    assert renamed.json()["description"] == "Europe"

    assert (await client.delete(f"/v1/departments/{sales['id']}")).status_code == 204
    error_of(await client.get(f"/v1/departments/{sales['id']}"), 404, "not_found")
    error_of(await client.patch(f"/v1/departments/{UNKNOWN}", json={"name": "x"}), 404)
    error_of(await client.delete(f"/v1/departments/{UNKNOWN}"), 404)


async def test_department_names_are_unique_and_required(api, client):
    await api.department("Support")
    error = error_of(await client.post("/v1/departments", json={"name": "Support"}), 409)
    assert error["code"] == "duplicate"
    assert "Support" in error["message"]
    other = await api.department("Sales")
    error_of(await client.patch(f"/v1/departments/{other['id']}", json={"name": "Support"}), 409)
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": 5}):
        error = error_of(await client.post("/v1/departments", json=body), 422, "invalid")
        assert "name" in fields_named(error)
    names = [d["name"] for d in (await client.get("/v1/departments")).json()["items"]]
    assert sorted(names) == ["Sales", "Support"]


async def test_department_with_tickets_cannot_be_deleted(api, client):
    support = await api.department()
    await api.ticket(department_id=support["id"])
    error_of(await client.delete(f"/v1/departments/{support['id']}"), 409, "in_use")
    assert (await client.get(f"/v1/departments/{support['id']}")).status_code == 200


# -- agents ----------------------------------------------------------------------------------


async def test_create_and_list_agents(api, client):
    support, sales = await api.department(), await api.department()
    alice = await api.agent(
        [support["id"], sales["id"]],
        name="Alice",
        email="Alice@Example.com",
        role="admin",
        availability={"chat": "online"},
    )
    assert alice["email"] == "alice@example.com"
    assert alice["role"] == "admin"
    assert alice["active"] is True
    assert sorted(alice["department_ids"]) == sorted([support["id"], sales["id"]])
    assert alice["availability"] == {"chat": "online"}
    bob = await api.agent([sales["id"]], name="Bob")
    assert (await client.get(f"/v1/agents/{bob['id']}")).json() == bob

    in_support = (await client.get("/v1/agents", params={"department_id": support["id"]})).json()
    assert [a["id"] for a in in_support["items"]] == [alice["id"]]
    in_sales = (await client.get("/v1/agents", params={"department_id": sales["id"]})).json()
    assert {a["id"] for a in in_sales["items"]} == {alice["id"], bob["id"]}


async def test_agent_emails_are_unique(api, client):
    await api.agent(email="alice@example.com")
    response = await client.post(
        "/v1/agents", json={"name": "Other Alice", "email": "ALICE@example.com"}
    )
    error_of(response, 409, "duplicate")
    bob = await api.agent(email="bob@example.com")
    error_of(
        await client.patch(f"/v1/agents/{bob['id']}", json={"email": "alice@example.com"}), 409
    )
    emails = sorted(a["email"] for a in (await client.get("/v1/agents")).json()["items"])
    assert emails == ["alice@example.com", "bob@example.com"]


async def test_agent_input_is_validated(api, client):
    support = await api.department()
    response = await client.post(
        "/v1/agents",
        json={"name": "A", "email": "a@example.com", "department_ids": [support["id"], UNKNOWN]},
    )
    error = error_of(response, 422, "unknown_reference")
    assert "department_ids" in error["message"]
    assert UNKNOWN in error["message"]
    assert support["id"] not in error["message"]
    assert (await client.get("/v1/agents")).json()["items"] == []

    # Bad agent fields.
    for body, field in [
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "email": "a@example.com", "role": "boss"}, "role"),
        ({"name": "A", "email": "a@example.com", "availability": {"chat": "busy"}}, "availability"),
        (
            {"name": "A", "email": "a@example.com", "availability": {"fax": "online"}},
            "availability",
        ),
        ({"email": "a@example.com"}, "name"),
    ]:
        error = error_of(await client.post("/v1/agents", json=body), 422, "invalid")
        assert any(f.startswith(field) for f in fields_named(error)), (body, error)
    assert (await client.get("/v1/agents")).json()["items"] == []


async def test_patch_agent_departments(api, client):
    support, sales = await api.department(), await api.department()
    agent = await api.agent([support["id"]])
    moved = await client.patch(f"/v1/agents/{agent['id']}", json={"department_ids": [sales["id"]]})
    assert moved.status_code == 200
    assert moved.json()["department_ids"] == [sales["id"]]
    bad = await client.patch(f"/v1/agents/{agent['id']}", json={"department_ids": [UNKNOWN]})
    error_of(bad, 422, "unknown_reference")
    assert (await client.get(f"/v1/agents/{agent['id']}")).json()["department_ids"] == [sales["id"]]


async def test_agent_sets_own_availability_only(api, client, as_agent):
    alice, alice_client = await as_agent(name="Alice", availability={"email": "online"})
    bob = await api.agent(name="Bob")

    mine = await alice_client.put(
        f"/v1/agents/{alice['id']}/availability", json={"availability": {"chat": "away"}}
    )
    assert mine.status_code == 200, mine.text
    # Channels not mentioned stay as they were.
    assert mine.json()["availability"] == {"email": "online", "chat": "away"}

    theirs = await alice_client.put(
        f"/v1/agents/{bob['id']}/availability", json={"availability": {"chat": "online"}}
    )
    error_of(theirs, 403, "forbidden")
    assert (await client.get(f"/v1/agents/{bob['id']}")).json()["availability"] == {}

    # An admin may set anyone's.
    by_admin = await client.put(
        f"/v1/agents/{bob['id']}/availability", json={"availability": {"chat": "online"}}
    )
    assert by_admin.json()["availability"] == {"chat": "online"}


async def test_availability_shows_on_assigned_tickets(api, client):
    support = await api.department()
    agent = await api.agent([support["id"]])
    email = await api.ticket(department_id=support["id"], agent_id=agent["id"])
    chat = await api.ticket(department_id=support["id"], agent_id=agent["id"], channel="chat")
    assert email["agent_status"] == "offline"
    await client.put(
        f"/v1/agents/{agent['id']}/availability",
        json={"availability": {"email": "online", "chat": "away"}},
    )
    assert (await client.get(f"/v1/tickets/{email['id']}")).json()["agent_status"] == "online"
    assert (await client.get(f"/v1/tickets/{chat['id']}")).json()["agent_status"] == "away"


async def test_invalid_availability_is_refused(api, client):
    agent = await api.agent(availability={"email": "online"})
    url = f"/v1/agents/{agent['id']}/availability"
    bodies: list[dict[str, Any]] = [
        {"availability": {}},
        {"availability": {"email": "sleeping"}},
        {"availability": {"pager": "online"}},
        {"email": "online"},
    ]
    for body in bodies:
        error_of(await client.put(url, json=body), 422, "invalid")
    assert (await client.get(f"/v1/agents/{agent['id']}")).json()["availability"] == {
        "email": "online"
    }
    error_of(
        await client.put(
            f"/v1/agents/{UNKNOWN}/availability", json={"availability": {"email": "online"}}
        ),
        404,
    )


# -- customers and groups --------------------------------------------------------------------


async def test_customer_groups_show_on_the_ticket(api, client):
    vip = (await client.post("/v1/customer-groups", json={"name": "VIP"})).json()
    partners = (await client.post("/v1/customer-groups", json={"name": "Partners"})).json()
    customer = await client.post(
        "/v1/customers",
        json={"email": "cleo@example.com", "name": "Cleo", "group_ids": [vip["id"]]},
    )
    assert customer.status_code == 201
    assert customer.json()["group_ids"] == [vip["id"]]

    ticket = await api.ticket(customer={"email": "cleo@example.com"})
    assert ticket["customer_id"] == customer.json()["id"]
    assert ticket["customer_group_ids"] == [vip["id"]]

    patched = await client.patch(
        f"/v1/customers/{ticket['customer_id']}", json={"group_ids": [vip["id"], partners["id"]]}
    )
    assert sorted(patched.json()["group_ids"]) == sorted([vip["id"], partners["id"]])
    fetched = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert sorted(fetched["customer_group_ids"]) == sorted([vip["id"], partners["id"]])

    members = (await client.get("/v1/customers", params={"group_id": partners["id"]})).json()
    assert [c["id"] for c in members["items"]] == [ticket["customer_id"]]


async def test_customer_group_names_are_unique(client):
    assert (await client.post("/v1/customer-groups", json={"name": "VIP"})).status_code == 201
    error_of(await client.post("/v1/customer-groups", json={"name": "VIP"}), 409, "duplicate")
    assert len((await client.get("/v1/customer-groups")).json()["items"]) == 1

    response = await client.post(
        "/v1/customers", json={"email": "x@example.com", "group_ids": [UNKNOWN]}
    )
    assert "group_ids" in error_of(response, 422, "unknown_reference")["message"]
    assert (await client.get("/v1/customers")).json()["items"] == []


async def test_customer_emails_are_unique(client):
    assert (await client.post("/v1/customers", json={"email": "x@example.com"})).status_code == 201
    error_of(await client.post("/v1/customers", json={"email": "X@example.com"}), 409, "duplicate")
    # A customer needs a name, an email or a phone.
    error_of(await client.post("/v1/customers", json={}), 422)
    error_of(await client.get(f"/v1/customers/{UNKNOWN}"), 404)
    assert len((await client.get("/v1/customers")).json()["items"]) == 1


# -- tags ------------------------------------------------------------------------------------


async def test_tags_are_created_when_first_used(api, client):
    await client.post("/v1/tags", json={"name": "billing", "color": "#ff0000"})
    ticket = await api.ticket(tags=["vip"])
    await client.post(f"/v1/tickets/{ticket['id']}/tags", json={"tags": ["billing", "refund"]})
    tags = {t["name"]: t for t in (await client.get("/v1/tags")).json()["items"]}
    assert set(tags) == {"billing", "vip", "refund"}
    assert tags["billing"]["color"] == "#ff0000"

    # Tag names are unique and valid.
    error_of(await client.post("/v1/tags", json={"name": "vip"}), 409, "duplicate")
    for bad in ("", "a,b", "x" * 51):
        error_of(await client.post("/v1/tags", json={"name": bad}), 422, "invalid")
    assert len((await client.get("/v1/tags")).json()["items"]) == 3


# -- custom fields ---------------------------------------------------------------------------


async def test_custom_field_definitions(client):
    created = await client.post(
        "/v1/custom-fields",
        json={"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]},
    )
    assert created.status_code == 201
    assert created.json()["options"] == ["free", "pro"]
    listed = (await client.get("/v1/custom-fields")).json()["items"]
    assert [(f["key"], f["type"]) for f in listed] == [("plan", "select")]

    duplicate = await client.post(
        "/v1/custom-fields", json={"key": "plan", "label": "Again", "type": "text"}
    )
    error_of(duplicate, 409, "duplicate")

    # Invalid definitions.
    cases = [
        ({"key": "plan", "label": "Plan", "type": "select"}, "options"),
        ({"key": "plan", "label": "Plan", "type": "select", "options": []}, "options"),
        ({"key": "n", "label": "N", "type": "number", "options": ["1"]}, "options"),
        ({"key": "Bad Key", "label": "x", "type": "text"}, "key"),
        ({"key": "x", "label": "x", "type": "colour"}, "type"),
    ]
    for body, field in cases:
        error = error_of(await client.post("/v1/custom-fields", json=body), 422)
        assert field in error["message"], (body, error)
    assert len((await client.get("/v1/custom-fields")).json()["items"]) == 1


# -- API keys --------------------------------------------------------------------------------


async def test_api_key_secret_is_shown_once(client, client_for):
    created = await client.post("/v1/api-keys", json={"name": "zapier", "role": "service"})
    assert created.status_code == 201
    key = created.json()
    secret = key["key"]
    assert len(secret) >= 32
    assert secret.startswith(key["prefix"])

    listing = await client.get("/v1/api-keys")
    assert secret not in listing.text
    [listed] = [k for k in listing.json()["items"] if k["id"] == key["id"]]
    assert "key" not in listed
    assert listed["name"] == "zapier"
    assert listed["role"] == "service"
    assert listed["revoked_at"] is None

    async with client_for(secret) as zapier:
        assert (await zapier.get("/v1/tickets")).status_code == 200


async def test_revoked_key_gets_401(client, client_for, clock):
    key = (await client.post("/v1/api-keys", json={"name": "tmp", "role": "admin"})).json()
    async with client_for(key["key"]) as temp:
        assert (await temp.get("/v1/departments")).status_code == 200
        assert (await client.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
        error = error_of(await temp.get("/v1/departments"), 401, "unauthorized")
        assert "revoked" in error["message"]
    [listed] = [
        k for k in (await client.get("/v1/api-keys")).json()["items"] if k["id"] == key["id"]
    ]
    assert listed["revoked_at"] is not None
    error_of(await client.delete(f"/v1/api-keys/{UNKNOWN}"), 404)


async def test_agent_key_needs_an_agent(api, client):
    error = error_of(await client.post("/v1/api-keys", json={"name": "k", "role": "agent"}), 422)
    assert "agent_id" in error["message"]
    response = await client.post(
        "/v1/api-keys", json={"name": "k", "role": "agent", "agent_id": str(uuid.uuid4())}
    )
    assert response.status_code in (404, 422)
    agent = await api.agent()
    response = await client.post(
        "/v1/api-keys", json={"name": "k", "role": "service", "agent_id": agent["id"]}
    )
    assert "agent_id" in error_of(response, 422)["message"]
    keys = (await client.get("/v1/api-keys")).json()["items"]
    assert {k["name"] for k in keys} == {"bootstrap admin", "bootstrap service"}
