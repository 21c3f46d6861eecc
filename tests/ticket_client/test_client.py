"""The typed ticket-api client against the real ticket-api, and the one action schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from helpdesk_ticket_client import (
    ActionBatch,
    TicketApiClient,
    TicketApiError,
    ticket_api_session,
)

from tests.conftest import ADMIN_KEY, SERVICE_KEY, Api

HUNDRED_TAGS = [f"t{i}" for i in range(100)]


@pytest.fixture
async def ticket_api(ticket_api_url: str) -> AsyncIterator[TicketApiClient]:
    session = ticket_api_session(ticket_api_url)
    yield TicketApiClient(session, SERVICE_KEY)
    await session.close()


async def test_a_write_back_is_applied_once_per_idempotency_key(ticket_api, api: Api):
    ticket = await api.ticket()
    batch = ActionBatch.model_validate(
        {
            "actor": {"kind": "service", "id": "test"},
            "actions": [{"type": "add_tags", "tags": HUNDRED_TAGS}],
        }
    )
    first = await ticket_api.apply_actions(uuid.UUID(ticket["id"]), batch, "key-1")
    again = await ticket_api.apply_actions(uuid.UUID(ticket["id"]), batch, "key-1")
    assert first.ok and sorted(first.body["ticket"]["tags"]) == sorted(HUNDRED_TAGS)
    assert again.body["event_ids"] == first.body["event_ids"]


async def test_a_refused_write_back_is_a_result_not_an_error(ticket_api):
    batch = ActionBatch.model_validate(
        {"actor": {"kind": "service"}, "actions": [{"type": "resolve"}]}
    )
    result = await ticket_api.apply_actions(uuid.uuid4(), batch, "key-2")
    assert result.status_code == 404 and result.refused


async def test_search_pages_through_matching_tickets(ticket_api, api: Api):
    for subject in ("Invoice 1", "Invoice 2", "Printer"):
        await api.ticket(subject=subject)
    conditions = {"any": [{"all": [{"field": "subject", "op": "contains", "value": "invoice"}]}]}
    first = await ticket_api.search_tickets(conditions, limit=1)
    second = await ticket_api.search_tickets(
        conditions, limit=1, cursor=first.next_cursor, at=first.at
    )
    # One page each; the test clock stands still, so the order among them is by id.
    assert sorted(t.subject for t in first.items + second.items) == ["Invoice 1", "Invoice 2"]
    assert second.next_cursor is None


async def test_department_agents_pages_through_the_active_ones(ticket_api, api: Api):
    support = await api.department("Support")
    other = await api.department("Sales")
    names = ("Alice", "Bob", "Carol")
    agents = [await api.agent([support["id"]], name=name) for name in names]
    await api.agent([other["id"]], name="Dave")
    gone = await api.client.patch(f"/v1/agents/{agents[2]['id']}", json={"active": False})
    assert gone.status_code == 200, gone.text
    listed = [
        agent
        async for agent in ticket_api.agents(
            department_id=uuid.UUID(support["id"]), active=True, page_size=1
        )
    ]
    assert sorted(a["name"] for a in listed) == ["Alice", "Bob"]
    assert all(a["email"] for a in listed)


async def test_a_search_ticket_api_refuses_raises_with_its_message(ticket_api):
    with pytest.raises(TicketApiError, match="contians"):
        await ticket_api.search_tickets(
            {"any": [{"all": [{"field": "subject", "op": "contians", "value": "x"}]}]}
        )


async def test_whoami_tells_a_key_or_none(ticket_api):
    admin = await ticket_api.whoami(ADMIN_KEY)
    assert admin is not None and admin.role == "admin"
    assert await ticket_api.whoami("hd_not-a-key") is None


async def test_an_unreachable_ticket_api_is_an_error_to_retry():
    from helpdesk_devstack.ports import free_port

    session = ticket_api_session(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(TicketApiError, match="failed"):
            await TicketApiClient(session, SERVICE_KEY).whoami(ADMIN_KEY)
    finally:
        await session.close()


async def test_rules_take_as_many_tags_as_a_write_back(rules):
    """One limit for both: a rule may add exactly the tags one write-back action takes."""
    rule = {"name": "tags", "conditions": {"every_ticket": True}}
    accepted = await rules.post(
        "/v1/rules", json={**rule, "actions": [{"type": "add_tags", "tags": HUNDRED_TAGS}]}
    )
    refused = await rules.post(
        "/v1/rules",
        json={**rule, "actions": [{"type": "add_tags", "tags": [*HUNDRED_TAGS, "one-more"]}]},
    )
    assert accepted.status_code == 201, accepted.text
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "actions[0].add_tags.tags"


async def test_a_rule_change_the_action_schema_refuses_is_recorded_not_sent(
    api, client, rules, engine
):
    """The rule worker checks its batch with ticket-api's own schema before sending: a
    rendered subject over 500 characters fails the rule (with the field named) and changes
    nothing, as ticket-api's 422 did."""
    from tests.rule_engine.conftest import make_rule

    rule = await make_rule(
        rules,
        name="long subject",
        actions=[{"type": "change_subject", "subject": "{{ ticket.subject * 100 }}"}],
    )
    created = await api.ticket(subject="Printer on fire")
    await engine.drain()
    assert (await client.get(f"/v1/tickets/{created['id']}")).json()["subject"] == (
        "Printer on fire"
    )
    evaluations = (
        await rules.get(f"/v1/tickets/{created['id']}/evaluations", params={"rule_id": rule["id"]})
    ).json()["items"]
    [result] = [r for e in evaluations for r in e["results"]]
    assert result["outcome"] == "failed"
    assert "actions[0].set_subject.subject" in result["reason"]
