"""Nothing a client sends makes ticket creation or a write-back answer 5xx: valid bodies
broken one place at a time, every place in turn (tests/fuzzing.py)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import SERVICE_KEY
from tests.fuzzing import OK, REFUSED, broken_bodies, check

NEW_TICKET: dict[str, Any] = {
    "subject": "Order never arrived",
    "channel": "email",
    "priority": "high",
    "customer": {"email": "cleo@example.com", "name": "Cleo"},
    "tags": ["order"],
    "custom_fields": {},
    "message": {"body": "Where is it?", "subject": "Order 17"},
}
WRITE_BACK: dict[str, Any] = {
    "actor": {"kind": "rule", "id": "rule-17", "name": "Escalate"},
    "correlation_id": str(uuid.uuid4()),
    "causation_id": str(uuid.uuid4()),
    "depth": 1,
    "actions": [
        {"type": "set_priority", "priority": "urgent"},
        {"type": "add_tags", "tags": ["vip"]},
        {"type": "set_status", "status": "open"},
        {"type": "set_subject", "subject": "Order never arrived (escalated)"},
    ],
}
# A batch with a message, too.
WITH_MESSAGE: dict[str, Any] = {
    **WRITE_BACK,
    "actions": [
        {"type": "add_tags", "tags": ["vip"]},
        {"type": "add_message", "author_kind": "system", "body": "escalated", "internal": True},
    ],
}


async def test_broken_new_tickets_never_get_a_server_error(client):
    answered: set[int] = set()
    for body in broken_bodies(NEW_TICKET):
        response = await client.post("/v1/tickets", json=body)
        check(response, "create", body)
        answered.add(response.status_code)
    assert answered & REFUSED and answered & OK, answered


async def test_broken_write_backs_never_get_a_server_error(api, client_for):
    ticket = await api.ticket(subject="Order never arrived")
    answered: set[int] = set()
    async with client_for(SERVICE_KEY) as service:
        for body in [*broken_bodies(WRITE_BACK), *broken_bodies(WITH_MESSAGE)]:
            response = await service.post(
                f"/v1/tickets/{ticket['id']}/actions",
                json=body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            check(response, "write-back", body)
            answered.add(response.status_code)
    assert answered & REFUSED and answered & OK, answered
