"""Bad input: clear 4xx answers, never a 500, and nothing written."""

from __future__ import annotations

from typing import Any

from .helpers import all_tickets, error_of, fields_named, history

JSON = {"content-type": "application/json"}
UNKNOWN = "00000000-0000-0000-0000-0000000000cc"


async def assert_nothing_written(client, ticket=None):
    """No ticket (other than ``ticket``) exists, and ``ticket`` has only its created entry."""
    tickets = await all_tickets(client, include_deleted="true")
    if ticket is None:
        assert tickets == []
        assert (await client.get("/v1/customers")).json()["items"] == []
    else:
        assert tickets == [(await client.get(f"/v1/tickets/{ticket['id']}")).json()]
        assert tickets[0]["version"] == ticket["version"]
        assert [h["action"] for h in await history(client, ticket["id"])] == ["created"]


async def test_invalid_json_is_400(client):
    for body in (b'{"subject": "x",}', b"{subject: x}", b'{"subject": "x"', b"\xff\xfe", b"nul"):
        response = await client.post("/v1/tickets", content=body, headers=JSON)
        error = error_of(response, 400, "invalid_json")
        assert "JSON" in error["message"]
        assert "position" in error["details"]
    await assert_nothing_written(client)


async def test_invalid_json_on_every_write(api, client):
    ticket = await api.ticket(message=None)
    for method, path in [
        ("PATCH", ""),
        ("POST", "/messages"),
        ("POST", "/transfer"),
        ("POST", "/tags"),
        ("POST", "/ratings"),
        ("POST", "/actions"),
    ]:
        response = await client.request(
            method,
            f"/v1/tickets/{ticket['id']}{path}",
            content=b'{"oops"',
            headers={**JSON, "Idempotency-Key": "k"},
        )
        error_of(response, 400, "invalid_json")
    for path in ("/v1/departments", "/v1/agents", "/v1/customers", "/v1/api-keys"):
        error_of(await client.post(path, content=b"[", headers=JSON), 400, "invalid_json")
    await assert_nothing_written(client, ticket)


async def test_wrong_types_are_422_naming_the_field(client):
    cases: list[tuple[dict[str, Any], str]] = [
        ({"subject": 5}, "subject"),
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 501}, "subject"),
        ({"subject": "x", "priority": "critical"}, "priority"),
        ({"subject": "x", "channel": "pigeon"}, "channel"),
        ({"subject": "x", "status": "resolved"}, "status"),
        ({"subject": "x", "tags": "vip"}, "tags"),
        ({"subject": "x", "tags": ["a,b"]}, "tags[0]"),
        ({"subject": "x", "department_id": "support"}, "department_id"),
        ({"subject": "x", "customer": {"email": "not-an-email"}}, "customer.email"),
        ({"subject": "x", "customer": {}}, "customer"),
        ({"subject": "x", "message": {"body": 42}}, "message.body"),
        ({"subject": "x", "message": {"body": "b", "cc": "a@example.com"}}, "message.cc"),
        ({"subject": "x", "created_from_invitation": "maybe"}, "created_from_invitation"),
        ({"priority": "low"}, "subject"),
    ]
    for body, field in cases:
        body.setdefault("customer", {"email": "c@example.com"})
        response = await client.post("/v1/tickets", json=body)
        error = error_of(response, 422, "invalid")
        assert field in fields_named(error), (body, error)
        assert field in error["message"]
        for detail in error["details"]:
            assert detail["message"]
            assert detail["type"]
    await assert_nothing_written(client)


async def test_unknown_fields_are_422(api, client):
    response = await client.post("/v1/tickets", json={"subject": "x", "colour": "red"})
    assert "colour" in fields_named(error_of(response, 422, "invalid"))
    response = await client.post(
        "/v1/tickets", json={"subject": "x", "customer": {"email": "a@example.com", "age": 3}}
    )
    assert "customer.age" in fields_named(error_of(response, 422))
    await assert_nothing_written(client)

    ticket = await api.ticket()
    for path, body in [
        ("", {"priority": "low", "owner": "me"}),
        ("/messages", {"body": "hi", "html": "<b>hi</b>"}),
        ("/transfer", {"department": "Support"}),
    ]:
        method = "PATCH" if path == "" else "POST"
        response = await client.request(method, f"/v1/tickets/{ticket['id']}{path}", json=body)
        error_of(response, 422, "invalid")
    await assert_nothing_written(client, ticket)


async def test_body_that_is_not_an_object_is_422(client):
    for content in (b"[]", b"null", b'"ticket"', b"42"):
        response = await client.post("/v1/tickets", content=content, headers=JSON)
        assert fields_named(error_of(response, 422, "invalid")) == ["body"]
    error_of(await client.post("/v1/tickets", content=b"", headers=JSON), 422)
    await assert_nothing_written(client)


async def test_unknown_ids(api, client):
    ticket = await api.ticket()
    error_of(await client.get(f"/v1/tickets/{UNKNOWN}"), 404, "not_found")
    error_of(await client.get("/v1/tickets/not-a-uuid"), 422, "invalid")
    error_of(await client.post(f"/v1/tickets/{UNKNOWN}/transfer", json={"agent_id": None}), 404)
    for body in (
        {"subject": "x", "agent_id": UNKNOWN},
        {"subject": "x", "department_id": UNKNOWN},
        {"subject": "x", "customer_id": UNKNOWN},
    ):
        error = error_of(await client.post("/v1/tickets", json=body), 422, "unknown_reference")
        assert next(k for k in body if k != "subject") in error["message"]
    await assert_nothing_written(client, ticket)

    # Unknown paths and methods.
    error_of(await client.put("/v1/tickets"), 405, "method_not_allowed")
    error_of(await client.get("/v1/nothing-here"), 404, "not_found")


async def test_oversized_body_is_413(client):
    body = b'{"subject": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post("/v1/tickets", content=body, headers=JSON)
    error = error_of(response, 413, "too_large")
    assert "1048576" in error["message"]
    await assert_nothing_written(client)

    # Without Content-Length (chunked), the limit holds as the body streams in.
    async def chunks():
        yield b'{"subject": "x", "message": {"body": "'
        for _ in range(12):
            yield b"y" * 100_000
        yield b'"}}'

    response = await client.post("/v1/tickets", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    error_of(response, 413, "too_large")
    await assert_nothing_written(client)


async def test_large_chunked_body_within_the_limit_is_accepted(api, client):
    ticket = await api.ticket()
    body = b'{"body": "' + b"z" * 190_000 + b'"}'

    async def chunks():
        yield body[:1000]
        yield body[1000:]

    response = await client.post(
        f"/v1/tickets/{ticket['id']}/messages", content=chunks(), headers=JSON
    )
    assert response.status_code == 201, response.text


async def test_values_the_database_refuses_are_422(api, client):
    """A NUL character is valid JSON but no PostgreSQL text can hold it."""
    await client.post("/v1/custom-fields", json={"key": "n", "label": "N", "type": "number"})
    for body in (
        {"subject": "a\u0000b"},
        {"subject": "x", "tags": ["nul\u0000"]},
        {"subject": "x", "customer": {"email": "a@example.com", "name": "\u0000"}},
    ):
        error_of(await client.post("/v1/tickets", json=body), 422, "invalid")
    error_of(await client.get("/v1/tickets", params={"tag": "a\u0000"}), 422)
    await assert_nothing_written(client)

    ticket = await api.ticket()
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"body": "hi", "to": ["a\u0000"]}
    )
    error_of(response, 422, "invalid")
    await assert_nothing_written(client, ticket)


async def test_numbers_out_of_range_are_422(client):
    await client.post("/v1/custom-fields", json={"key": "n", "label": "N", "type": "number"})
    for value in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"100000000000000000000000000"):
        body = b'{"subject": "x", "custom_fields": {"n": ' + value + b"}}"
        for headers in (JSON, {**JSON, "Idempotency-Key": "num"}):
            response = await client.post("/v1/tickets", content=body, headers=headers)
            assert "custom_fields.n" in error_of(response, 422, "invalid")["message"], value
    await assert_nothing_written(client)


async def test_invalid_patch_values_are_422(api, client):
    ticket = await api.ticket()
    for status in ("closed", "", None, 3, "OPEN"):
        response = await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": status})
        assert "status" in error_of(response, 422)["message"]
    await assert_nothing_written(client, ticket)

    # A malformed correlation id header.
    ticket = await api.ticket()
    response = await client.patch(
        f"/v1/tickets/{ticket['id']}",
        json={"priority": "low"},
        headers={"X-Correlation-Id": "not-a-uuid"},
    )
    assert "header.X-Correlation-Id" in [d["field"] for d in error_of(response, 422)["details"]]
    assert (await client.get(f"/v1/tickets/{ticket['id']}")).json() == ticket


async def test_a_body_that_is_not_unicode_is_invalid_json_on_the_hot_routes(client, api):
    ticket = await api.ticket()
    for path in ("/v1/tickets", f"/v1/tickets/{ticket['id']}/actions"):
        response = await client.post(
            path,
            content=b"\x84\xa1 not text",
            headers={"Content-Type": "application/json", "Idempotency-Key": "k-unicode"},
        )
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_json"


async def test_a_405_names_the_methods_the_path_takes(client):
    response = await client.put("/v1/departments")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_null_is_refused_where_it_means_nothing_and_the_document_says_so(client, api):
    agent = await api.agent()
    response = await client.patch(f"/v1/agents/{agent['id']}", json={"role": None})
    assert error_of(response, 422)["details"][0]["field"] == "role"
    document = (await client.get("/openapi.json")).json()
    agent_patch = document["components"]["schemas"]["AgentPatch"]["properties"]
    assert "anyOf" not in agent_patch["role"]
    ticket_patch = document["components"]["schemas"]["TicketPatch"]["properties"]
    assert {"type": "null"} in ticket_patch["agent_id"]["anyOf"]


async def test_a_customer_needs_a_name_email_or_phone_as_the_document_says(client):
    response = await client.post("/v1/customers", json={})
    assert response.status_code == 422
    document = (await client.get("/openapi.json")).json()
    assert len(document["components"]["schemas"]["CustomerIn"]["anyOf"]) == 3


async def test_a_number_is_not_a_date_in_a_query(client):
    response = await client.get("/v1/tickets", params={"created_before": "0.5"})
    assert error_of(response, 422)["details"][0]["field"] == "query.created_before"
    response = await client.get("/v1/tickets", params={"created_before": "2026-05-01T09:30:00Z"})
    assert response.status_code == 200


async def test_the_document_says_what_a_cursor_is(client):
    document = (await client.get("/openapi.json")).json()
    parameters = document["paths"]["/v1/tickets"]["get"]["parameters"]
    cursor = next(p for p in parameters if p["name"] == "cursor")
    assert "next_cursor" in cursor["description"] and "invalid_cursor" in cursor["description"]
