"""The rule engine as real processes: ticket-api, relay, rule-engine API and worker."""

from collections import Counter

import pytest

from tests.e2e.api_and_worker import behind_ticket_api
from tests.e2e.helpers import wait_until
from tests.e2e.test_event_delivery import create_tickets

pytestmark = pytest.mark.e2e


async def test_a_rule_changes_tickets_and_survives_a_worker_kill(suite, api_port):
    serve, work = suite.rule_engine, suite.rule_worker
    async with behind_ticket_api(suite, api_port, serve, work) as (worker, tickets, rules):
        billing = (await tickets.post("/v1/departments", json={"name": "Billing"})).json()
        response = await rules.post(
            "/v1/rules",
            json={
                "name": "Billing to Billing",
                "conditions": {
                    "any": [{"all": [{"field": "subject", "op": "contains", "value": "ticket"}]}]
                },
                "actions": [
                    {"type": "transfer", "department_id": billing["id"]},
                    {"type": "add_tags", "tags": ["routed"]},
                ],
            },
        )
        assert response.status_code == 201, response.text

        first = await create_tickets(tickets, 1)

        async def routed(ids):
            for ticket_id in ids:
                t = (await tickets.get(f"/v1/tickets/{ticket_id}")).json()
                if t["tags"] != ["routed"]:
                    return False
            return True

        await wait_until(lambda: routed(first))

        # Kill the worker while it works through a burst, then start another.
        burst = await create_tickets(tickets, 150)

        async def some_routed():
            count = (
                await tickets.get("/v1/tickets", params={"tag": "routed", "limit": 200})
            ).json()["items"]
            return len(count) > 10

        await wait_until(some_routed)
        worker.kill()
        suite.rule_worker(api_port, name="rule-worker-2").start()
        await wait_until(lambda: routed(burst), timeout=120)

        for ticket_id in burst:
            history = (await tickets.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
            by_rule = Counter(h["action"] for h in history if h["actor"]["kind"] == "rule")
            assert by_rule == {"transferred": 1, "tags_changed": 1}, (ticket_id, history)
