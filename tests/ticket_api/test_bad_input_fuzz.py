"""Nothing a client sends makes ticket creation or a write-back answer 5xx: valid bodies
broken one place at a time, every place in turn (tests/fuzzing.py), through the fast lane
and the general path alike."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from helpdesk_ticket_api.config import Settings
from prometheus_client import REGISTRY

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
# A batch with a message is never the fast lane's: the route serves it either way.
WITH_MESSAGE: dict[str, Any] = {
    **WRITE_BACK,
    "actions": [
        {"type": "add_tags", "tags": ["vip"]},
        {"type": "add_message", "author_kind": "system", "body": "escalated", "internal": True},
    ],
}


@pytest.fixture(params=[True, False], ids=["fast lane", "general path"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"fast_lane": request.param})


def served_by_the_lane(route: str) -> float:
    value = REGISTRY.get_sample_value(
        "ticket_api_fast_lane_requests_total", {"route": route, "outcome": "served"}
    )
    return value or 0.0


async def test_broken_new_tickets_never_get_a_server_error(client, settings):
    served_before = served_by_the_lane("create")
    answered: set[int] = set()
    for body in broken_bodies(NEW_TICKET):
        response = await client.post("/v1/tickets", json=body)
        check(response, "create", body)
        answered.add(response.status_code)
    assert answered & REFUSED and answered & OK, answered
    assert (served_by_the_lane("create") > served_before) == settings.fast_lane


async def test_broken_write_backs_never_get_a_server_error(api, client_for, settings):
    served_before = served_by_the_lane("actions")
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
    assert (served_by_the_lane("actions") > served_before) == settings.fast_lane
