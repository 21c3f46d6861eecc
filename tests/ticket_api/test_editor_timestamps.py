"""Which of a ticket's timestamps each change sets (to the clock's now), and that it leaves
the others alone: they are condition fields (time rules, SLA clocks) and part of every
event's snapshot. Through the endpoints and through service write-backs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from helpdesk_events import ManualClock

TIMESTAMPS = (
    "created_at",
    "updated_at",
    "status_changed_at",
    "deleted_at",
    "first_customer_message_at",
    "last_customer_message_at",
    "first_agent_reply_at",
    "last_agent_reply_at",
    "last_message_at",
)

RULE = {"kind": "rule", "id": "rule-1", "name": "Timestamps"}
# The same whichever way the first agent reply arrives (endpoint or write-back).
FIRST_AGENT_REPLY_SETS = frozenset(
    {
        "updated_at",
        "first_agent_reply_at",
        "last_agent_reply_at",
        "last_message_at",
        "status_changed_at",
    }
)
# What any customer message sets; the one that answers an answered ticket also reopens it.
CUSTOMER_MESSAGE_SETS = frozenset({"updated_at", "last_customer_message_at", "last_message_at"})


def times(ticket: dict[str, Any]) -> dict[str, datetime | None]:
    return {
        name: None if ticket[name] is None else datetime.fromisoformat(ticket[name])
        for name in TIMESTAMPS
    }


class Timeline:
    """Runs one change at a later instant and checks which timestamps moved to it."""

    def __init__(self, client: httpx.AsyncClient, clock: ManualClock, ticket_id: str) -> None:
        self.client = client
        self.clock = clock
        self.ticket_id = ticket_id

    async def current(self) -> dict[str, Any]:
        response = await self.client.get(f"/v1/tickets/{self.ticket_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def step(
        self,
        what: str,
        change: Callable[[], Awaitable[httpx.Response]],
        *,
        sets: set[str] | frozenset[str],
        clears: frozenset[str] = frozenset(),
        status: str | None = None,
    ) -> None:
        before = times(await self.current())
        now = self.clock.advance(minutes=7)
        response = await change()
        assert response.status_code < 300, (what, response.status_code, response.text)
        ticket = await self.current()
        after = times(ticket)
        expected = {
            name: now if name in sets else None if name in clears else before[name]
            for name in TIMESTAMPS
        }
        assert after == expected, what
        if status is not None:
            assert ticket["status"] == status, what


async def test_each_change_through_the_endpoints_sets_its_timestamps(api, client, clock):
    created_at = clock.now()
    ticket = await api.ticket()
    created = times(ticket)
    assert created == {
        "created_at": created_at,
        "updated_at": created_at,
        "status_changed_at": created_at,
        "deleted_at": None,
        "first_customer_message_at": created_at,
        "last_customer_message_at": created_at,
        "first_agent_reply_at": None,
        "last_agent_reply_at": None,
        "last_message_at": created_at,
    }
    path = f"/v1/tickets/{ticket['id']}"
    line = Timeline(client, clock, ticket["id"])

    def patch(**body: Any) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: client.patch(path, json=body)

    def post(suffix: str, body: dict[str, Any] | None = None):
        return lambda: client.post(path + suffix, json=body)

    def message(author_kind: str, **extra: Any):
        return post("/messages", {"author_kind": author_kind, "body": "Hello", **extra})

    await line.step("priority", patch(priority="high"), sets={"updated_at"})
    await line.step("subject", patch(subject="Printer smoking"), sets={"updated_at"})
    await line.step(
        "status", patch(status="open"), sets={"updated_at", "status_changed_at"}, status="open"
    )
    await line.step(
        "first agent reply",
        message("agent"),
        sets=FIRST_AGENT_REPLY_SETS,
        status="answered",
    )
    await line.step(
        "second agent reply",
        message("agent"),
        sets={"updated_at", "last_agent_reply_at", "last_message_at"},
        status="answered",
    )
    await line.step("internal note", message("agent", internal=True), sets={"updated_at"})
    await line.step(
        "customer answers",
        message("customer"),
        sets=CUSTOMER_MESSAGE_SETS | {"status_changed_at"},
        status="open",
    )
    await line.step(
        "customer adds",
        message("customer"),
        sets=CUSTOMER_MESSAGE_SETS,
        status="open",
    )
    await line.step("system message", message("system"), sets={"updated_at", "last_message_at"})
    await line.step(
        "spam", patch(status="spam"), sets={"updated_at", "status_changed_at"}, status="spam"
    )
    await line.step(
        "not spam", post("/not-spam"), sets={"updated_at", "status_changed_at"}, status="open"
    )
    await line.step(
        "delete",
        lambda: client.delete(path),
        sets={"updated_at", "status_changed_at", "deleted_at"},
        status="deleted",
    )
    await line.step(
        "restore",
        post("/restore"),
        sets={"updated_at", "status_changed_at"},
        clears=frozenset({"deleted_at"}),
        status="open",
    )


async def test_each_write_back_sets_its_timestamps(api, client, service, clock):
    ticket = await api.ticket(message=None)
    assert ticket["first_customer_message_at"] is None
    line = Timeline(client, clock, ticket["id"])

    def act(*actions: dict[str, Any]) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: service.post(
            f"/v1/tickets/{ticket['id']}/actions",
            json={"actor": RULE, "actions": list(actions)},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )

    await line.step(
        "priority", act({"type": "set_priority", "priority": "low"}), sets={"updated_at"}
    )
    await line.step(
        "spam", act({"type": "mark_spam"}), sets={"updated_at", "status_changed_at"}, status="spam"
    )
    await line.step(
        "not spam",
        act({"type": "mark_not_spam"}),
        sets={"updated_at", "status_changed_at"},
        status="new",
    )
    await line.step(
        "answer",
        act({"type": "add_message", "author_kind": "agent", "body": "On it"}),
        sets=FIRST_AGENT_REPLY_SETS,
        status="answered",
    )
    await line.step(
        "note",
        act({"type": "add_message", "author_kind": "system", "body": "n", "internal": True}),
        sets={"updated_at"},
    )
    await line.step("resolve", act({"type": "resolve"}), sets={"updated_at", "status_changed_at"})
    await line.step(
        "delete",
        act({"type": "delete"}),
        sets={"updated_at", "status_changed_at", "deleted_at"},
        status="deleted",
    )
    await line.step(
        "restore",
        act({"type": "restore"}),
        sets={"updated_at", "status_changed_at"},
        clears=frozenset({"deleted_at"}),
        status="open",
    )
