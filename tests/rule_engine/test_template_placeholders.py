"""Every placeholder docs/rule-engine.md promises is rendered, in every action text that is a
template, as a dry run shows what a rule would do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from helpdesk_events import MessageSnapshot, TicketSnapshot

from tests.rule_engine.conftest import any_of, cond

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TICKET_ID = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
LAST_MESSAGE = MessageSnapshot(
    id=uuid.UUID("00000000-0000-0000-0000-0000000000bb"),
    ticket_id=TICKET_ID,
    author_kind="customer",
    from_address="cleo@example.com",
    body="My printer is on fire",
    created_at=NOW,
)
TICKET = TicketSnapshot(
    id=TICKET_ID,
    code="T-000042",
    subject="Printer on fire",
    status="open",
    channel="email",
    priority="high",
    customer_email="cleo@example.com",
    tags=["vip", "hardware"],
    custom_fields={"plan": "pro"},
    sla_level="gold",
    created_at=NOW,
    updated_at=NOW,
    status_changed_at=NOW,
    last_message=LAST_MESSAGE,
    last_message_at=NOW,
    message_count=1,
    version=3,
)


async def would_do(
    rules: httpx.AsyncClient, actions: list[dict[str, Any]], ticket: TicketSnapshot = TICKET
) -> dict[str, Any]:
    draft = {
        "name": "templates",
        "conditions": any_of([cond("subject", "is_set")]),
        "actions": actions,
    }
    response = await rules.post(
        "/v1/rules/test", json={"rule": draft, "ticket": ticket.model_dump(mode="json")}
    )
    assert response.status_code == 200, response.text
    result = response.json()["would_do"]
    assert result is not None, response.text
    return result  # type: ignore[no-any-return]


DOCUMENTED = [
    ("{{ ticket.code }}", "T-000042"),
    ("{{ ticket.subject }}", "Printer on fire"),
    ("{{ ticket.status }}", "open"),
    ("{{ ticket.customer_email }}", "cleo@example.com"),
    ('{{ ticket.tags | join(", ") }}', "vip, hardware"),
    ("{{ message.body }}", "My printer is on fire"),
]


@pytest.mark.parametrize(("template", "rendered"), DOCUMENTED, ids=[t for t, _ in DOCUMENTED])
async def test_each_documented_placeholder_renders_in_every_template(rules, template, rendered):
    actions = [
        {"type": "change_subject", "subject": f"[{template}]"},
        {"type": "send_answer", "subject": f"s {template}", "body": f"b {template}"},
        {"type": "send_email", "to": ["boss@example.com"], "subject": template, "body": template},
        {"type": "call_url", "url": f"https://hooks.example.com/{template}"},
        {
            "type": "http_request",
            "method": "POST",
            "url": f"https://hooks.example.com/x?{template}",
            "headers": {"X-Ticket": template},
            "body": f"<{template}>",
        },
    ]
    plan = await would_do(rules, actions)
    assert plan["errors"] == []
    subject_change, answer = plan["ticket_actions"]
    assert subject_change == {"type": "set_subject", "subject": f"[{rendered}]"}
    assert (answer["subject"], answer["body"]) == (f"s {rendered}", f"b {rendered}")
    answer_out, email, call, request = plan["outbound"]
    assert (answer_out["subject"], answer_out["body"]) == (f"s {rendered}", f"b {rendered}")
    assert (email["subject"], email["body"]) == (rendered, rendered)
    assert call["url"] == f"https://hooks.example.com/{rendered}"
    assert request["url"] == f"https://hooks.example.com/x?{rendered}"
    assert request["headers"] == {"X-Ticket": rendered}
    assert request["body"] == f"<{rendered}>"


async def test_any_snapshot_field_renders(rules):
    """ "Any field of the ticket snapshot", and of the last message."""
    data = TICKET.model_dump(mode="json")
    scalars = [name for name, value in data.items() if isinstance(value, str | int)]
    message_fields = ["author_kind", "from_address", "created_at"]
    template = " | ".join(
        [f"{{{{ ticket.{name} }}}}" for name in scalars]
        + ["{{ ticket.custom_fields.plan }}"]
        + [f"{{{{ message.{name} }}}}" for name in message_fields]
    )
    expected = " | ".join(
        [str(data[name]) for name in scalars]
        + ["pro"]
        + [str(data["last_message"][name]) for name in message_fields]
    )
    plan = await would_do(
        rules, [{"type": "send_email", "to": ["a@example.com"], "subject": "s", "body": template}]
    )
    assert plan["outbound"][0]["body"] == expected


async def test_a_ticket_without_messages_renders_message_placeholders_empty(rules):
    ticket = TICKET.model_copy(update={"last_message": None, "message_count": 0})
    plan = await would_do(
        rules,
        [{"type": "send_answer", "body": "Re {{ ticket.code }}: {{ message.body }}."}],
        ticket,
    )
    assert plan["errors"] == []
    [answer] = plan["outbound"]
    assert answer["body"] == "Re T-000042: ."
    # Without a subject, an answer replies to the ticket's.
    assert answer["subject"] == "Re: Printer on fire"


async def test_an_answer_needs_the_customers_address(rules):
    ticket = TICKET.model_copy(update={"customer_email": None})
    plan = await would_do(rules, [{"type": "send_answer", "body": "{{ message.body }}"}], ticket)
    assert plan["ticket_actions"] == [] and plan["outbound"] == []
    assert plan["errors"] == ["actions[0] (send_answer): the ticket has no customer e-mail"]
