"""The ticket client sends concurrent write-backs together (POST /v1/tickets/actions), each
caller still getting its own answer, against the real ticket-api over loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from helpdesk_ticket_client import (
    ActionBatch,
    TicketApiClient,
    TicketApiError,
    ticket_api_session,
)
from prometheus_client import REGISTRY

from tests.conftest import SERVICE_KEY, Api


def tagging(tag: str) -> ActionBatch:
    return ActionBatch.model_validate(
        {
            "actor": {"kind": "service", "id": "test"},
            "actions": [{"type": "add_tags", "tags": [tag]}],
        }
    )


def requests_answered(route: str) -> float:
    """ticket-api's ``http_requests_total`` for POST ``route`` (200), in this process."""
    labels = {"method": "POST", "route": route, "status": "200"}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


@pytest.fixture
async def session(ticket_api_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    session = ticket_api_session(ticket_api_url)
    yield session
    await session.close()


async def test_concurrent_write_backs_leave_together_and_each_caller_gets_its_own_answer(
    session, api: Api
):
    ticket_api = TicketApiClient(session, SERVICE_KEY, write_backs_in_flight=2)
    tickets = [await api.ticket() for _ in range(50)]
    missing = uuid.uuid4()
    batched_before = requests_answered("/v1/tickets/actions")
    alone_before = requests_answered("/v1/tickets/{ticket_id}/actions")

    results = await asyncio.gather(
        *(
            ticket_api.apply_actions(uuid.UUID(t["id"]), tagging(f"t{i}"), f"key-{i}")
            for i, t in enumerate(tickets)
        ),
        ticket_api.apply_actions(missing, tagging("gone"), "key-missing"),
    )

    *applied, refused = results
    for index, (ticket, result) in enumerate(zip(tickets, applied, strict=True)):
        assert result.ok, result
        assert result.body["ticket"]["id"] == ticket["id"]
        assert result.body["ticket"]["tags"] == [f"t{index}"]
    assert refused.status_code == 404 and refused.refused
    requests = requests_answered("/v1/tickets/actions") - batched_before
    assert 2 <= requests < 10
    assert requests_answered("/v1/tickets/{ticket_id}/actions") == alone_before


async def test_the_same_key_twice_at_once_is_applied_once(session, api: Api):
    ticket_api = TicketApiClient(session, SERVICE_KEY, write_backs_in_flight=1)
    ticket = await api.ticket()
    others = [await api.ticket() for _ in range(2)]
    first, *_, repeat = await asyncio.gather(
        ticket_api.apply_actions(uuid.UUID(others[0]["id"]), tagging("a"), "other-a"),
        ticket_api.apply_actions(uuid.UUID(ticket["id"]), tagging("x"), "same-key"),
        ticket_api.apply_actions(uuid.UUID(others[1]["id"]), tagging("b"), "other-b"),
        ticket_api.apply_actions(uuid.UUID(ticket["id"]), tagging("x"), "same-key"),
    )
    assert first.ok and repeat.ok
    assert repeat.body["ticket"]["version"] == ticket["version"] + 1
    assert (await api.client.get(f"/v1/tickets/{ticket['id']}")).json()["version"] == (
        ticket["version"] + 1
    )


async def test_a_cancelled_caller_leaves_the_others_their_answers(session, api: Api):
    ticket_api = TicketApiClient(session, SERVICE_KEY, write_backs_in_flight=1)
    tickets = [await api.ticket() for _ in range(6)]
    calls = [
        asyncio.create_task(ticket_api.apply_actions(uuid.UUID(t["id"]), tagging("x"), t["id"]))
        for t in tickets
    ]
    await asyncio.sleep(0)  # every call queued: the first one's request is out
    calls[0].cancel()
    calls[3].cancel()
    answers = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(answers[0], asyncio.CancelledError)
    assert isinstance(answers[3], asyncio.CancelledError)
    for index in (1, 2, 4, 5):
        answer = answers[index]
        assert not isinstance(answer, BaseException) and answer.ok, answer
    # Still queued when cancelled: never sent.
    unsent = (await api.client.get(f"/v1/tickets/{tickets[3]['id']}")).json()
    assert unsent["tags"] == []
    later = await ticket_api.apply_actions(uuid.UUID(tickets[3]["id"]), tagging("y"), "later")
    assert later.ok and later.body["ticket"]["tags"] == ["y"]


async def test_a_closed_session_fails_every_write_back_with_a_ticket_api_error(
    ticket_api_url: str, api: Api
):
    session = ticket_api_session(ticket_api_url)
    ticket_api = TicketApiClient(session, SERVICE_KEY, write_backs_in_flight=1)
    ticket = await api.ticket()
    calls = [
        asyncio.create_task(
            ticket_api.apply_actions(uuid.UUID(ticket["id"]), tagging(f"t{i}"), f"closed-{i}")
        )
        for i in range(3)
    ]
    await asyncio.sleep(0)  # every call queued: the first one's request is out
    await session.close()
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(answer, TicketApiError) for answer in answers), answers
    with pytest.raises(TicketApiError):
        await ticket_api.apply_actions(uuid.UUID(ticket["id"]), tagging("late"), "closed-late")
