"""Which agents an event concerns (agents/kinds.py): the kinds the events in libs/events
carry today — SLA warning, a chat message, a ringing chat, a missed chat."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from helpdesk_events import (
    Actor,
    ChatMissed,
    ChatOffered,
    MessageAdded,
    MessageSnapshot,
    SlaTarget,
    SlaWarning,
    TicketSnapshot,
)
from helpdesk_notifier.agents.kinds import AgentNotice
from helpdesk_notifier.agents.kinds import notices_for as any_notices_for

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
ALICE = uuid.uuid4()


def notices_for(event: Any) -> list[AgentNotice]:
    """The notices, all of them for named agents (none department-wide here)."""
    notices = any_notices_for(event)
    assert all(isinstance(n, AgentNotice) for n in notices)
    return [n for n in notices if isinstance(n, AgentNotice)]


def snapshot(**fields: Any) -> TicketSnapshot:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "code": "T-000007",
        "subject": "Printer on fire",
        "status": "open",
        "channel": "email",
        "priority": "normal",
        "agent_id": ALICE,
        "created_at": NOW,
        "updated_at": NOW,
        "status_changed_at": NOW,
        "version": 1,
        **fields,
    }
    return TicketSnapshot(**values)


def common(ticket: TicketSnapshot) -> dict[str, Any]:
    return {
        "occurred_at": NOW,
        "ticket_id": ticket.id,
        "ticket": ticket,
        "actor": Actor(kind="system"),
        "correlation_id": uuid.uuid4(),
    }


def test_sla_warning_tells_the_tickets_agent() -> None:
    ticket = snapshot()
    sla = SlaTarget(level="gold", target="first_response", due_at=NOW)
    assert notices_for(SlaWarning(sla=sla, **common(ticket))) == [
        AgentNotice(
            ALICE, "sla_warning", ticket.id, "T-000007 first response due soon: Printer on fire"
        )
    ]
    unassigned = snapshot(agent_id=None)
    assert notices_for(SlaWarning(sla=sla, **common(unassigned))) == []


def message(ticket: TicketSnapshot, author: str) -> MessageAdded:
    body = MessageSnapshot.model_validate(
        {
            "id": uuid.uuid4(),
            "author_kind": author,
            "ticket_id": ticket.id,
            "body": "hi",
            "created_at": NOW,
        }
    )
    return MessageAdded(message=body, **common(ticket))


def test_a_customer_message_in_a_chat_is_a_chat_message() -> None:
    chat = snapshot(channel="chat")
    [notice] = notices_for(message(chat, "customer"))
    assert (notice.agent_id, notice.kind) == (ALICE, "chat_message")
    [by_mail] = notices_for(message(snapshot(), "customer"))
    assert by_mail.kind == "customer_replied"
    assert notices_for(message(chat, "agent")) == []


def test_a_missed_chat_tells_the_agents_it_was_offered_to_once_each() -> None:
    bob = uuid.uuid4()
    missed = ChatMissed(
        occurred_at=NOW,
        ticket_id=uuid.uuid4(),
        department_id=uuid.uuid4(),
        offered_to=[ALICE, bob, ALICE],
        offered_at=NOW,
        actor=Actor(kind="system"),
        correlation_id=uuid.uuid4(),
    )
    notices = notices_for(missed)
    assert [(n.agent_id, n.kind) for n in notices] == [(ALICE, "chat_missed"), (bob, "chat_missed")]
    assert all(n.ticket_id == missed.ticket_id for n in notices)
    assert "09:30 UTC" in notices[0].title


def test_a_ringing_chat_tells_the_agents_it_is_offered_to_once_each() -> None:
    bob = uuid.uuid4()
    offer_id = uuid.uuid4()
    ringing = ChatOffered(
        occurred_at=NOW,
        ticket_id=uuid.uuid4(),
        department_id=uuid.uuid4(),
        offer_id=offer_id,
        offered_to=[ALICE, bob, ALICE],
        expires_at=NOW + timedelta(seconds=30),
        actor=Actor(kind="router", id="router"),
        correlation_id=offer_id,
    )
    notices = notices_for(ringing)
    assert [(n.agent_id, n.kind) for n in notices] == [
        (ALICE, "chat_ringing"),
        (bob, "chat_ringing"),
    ]
    assert all(n.ticket_id == ringing.ticket_id for n in notices)
    assert "09:30:30 UTC" in notices[0].title
