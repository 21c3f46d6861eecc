"""The contract with the rule engine: its ``notification.requested`` events, consumed by
the notifier's handler through the real ConsumerRunner, become deliveries that arrive signed
— once, even when the event comes twice or the rule engine re-runs the action."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpdesk_events import ManualClock
from helpdesk_notifier.delivery.engine import DeliveryEngine
from helpdesk_notifier.handlers.notifications import handlers
from helpdesk_notifier.models import CONSUMER
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from tests.notifier.conftest import Receiver, endpoint_secret
from tests.rule_engine.conftest import make_rule
from tests.rule_engine.pump import Pump, pumping


@pytest.fixture
async def notifier_pump(db: AsyncEngine, clock: ManualClock) -> AsyncIterator[Pump]:
    async with pumping(
        db,
        clock,
        name="notifier",
        topic="helpdesk.notifications",
        handlers=handlers(),
        tables=CONSUMER,
    ) as pump:
        yield pump


async def test_rule_http_request_and_email_become_signed_deliveries(
    api: Any,
    rules: Any,
    engine: Any,
    notifier_pump: Pump,
    db: AsyncEngine,
    receiver: Receiver,
    deliveries: DeliveryEngine,
) -> None:
    await make_rule(
        rules,
        actions=[
            {
                "type": "http_request",
                "method": "POST",
                "url": receiver.url("/crm?code={{ ticket.code }}"),
                "headers": {"X-Ticket": "{{ ticket.code }}"},
                "body": '{"subject": "{{ ticket.subject }}"}',
            },
            {
                "type": "send_email",
                "to": ["team@example.com"],
                "subject": "New",
                "body": "{{ ticket.code }}",
            },
        ],
    )
    created = await api.ticket(subject="Login broken")
    await engine.drain()
    published = await notifier_pump.take_outbox("rules")
    assert len(published) == 2
    for topic, key, value in published + published:  # every event delivered twice
        await notifier_pump.deliver(topic, key, value)

    async with db.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT kind, ticket_id, state FROM notify.delivery ORDER BY kind")
            )
        ).all()
        dead = (await conn.execute(text("SELECT error FROM notify.dead_event"))).all()
    assert not dead
    assert [(r.kind, str(r.ticket_id), r.state) for r in rows] == [
        ("http_request", created["id"], "pending"),
        ("send_email", created["id"], "pending"),
    ]

    await deliveries.run_due()
    [got] = receiver.requests
    assert got.path == "/crm"
    assert got.headers["X-Ticket"] == created["code"]
    secret = await endpoint_secret(db, receiver.url())
    assert Webhook(secret).verify(got.body, got.headers) == {"subject": "Login broken"}
