"""The sla-tracker as real processes beside ticket-api, its relay and the rule engine: a
ticket misses its first response, a scan fires sla.breached, the worker's relay publishes
it on helpdesk.sla, an escalation rule raises the ticket's priority, and the scanner writes
the ticket's SLA state (due date, late) back to it.

The test does not wait out the one-minute target: the tracker runs with
SLA_TRACKER_UNSAFE_SCAN_AHEAD_OF_NOW, and the test scans one second past the due instant."""

from datetime import datetime, timedelta

import pytest
from helpdesk_devstack.ports import free_port

from tests.e2e.helpers import http, post_ticket, wait_until

pytestmark = pytest.mark.e2e


async def test_a_missed_first_response_is_escalated(suite, api_port):
    rules_port, sla_port = free_port(), free_port()
    suite.ticket_api(api_port).start()
    suite.relay().start()
    suite.rule_engine(rules_port, api_port).start()
    suite.rule_worker(api_port).start()
    suite.sla_tracker(sla_port, api_port, scan_ahead_of_now=True).start()
    suite.sla_worker(api_port).start()
    suite.sla_scanner(api_port).start()
    async with http(api_port) as tickets, http(rules_port) as rules, http(sla_port) as sla:
        support = (await tickets.post("/v1/departments", json={"name": "Support"})).json()
        # Around the clock, one minute: the shortest target there is.
        level = await sla.put("/v1/levels/fast", json={"first_response_minutes": 1})
        assert level.status_code == 201, level.text
        default = await sla.put(f"/v1/departments/{support['id']}/level", json={"level": "fast"})
        assert default.status_code == 200, default.text
        rule = await rules.post(
            "/v1/rules",
            json={
                "name": "Escalate late tickets",
                "trigger": "sla_breached",
                "conditions": {
                    "any": [{"all": [{"field": "priority", "op": "is", "value": "low"}]}]
                },
                "actions": [{"type": "change_priority", "priority": "urgent"}],
            },
        )
        assert rule.status_code == 201, rule.text
        created = await post_ticket(
            tickets,
            "Nobody answers",
            "waiting@example.com",
            priority="low",
            department_id=support["id"],
            message={"body": "Hello?"},
        )
        ticket_id = created["id"]

        async def clocks():
            return (await sla.get(f"/v1/tickets/{ticket_id}/clocks")).json()["items"]

        [clock] = await wait_until(clocks, 60, interval=0.25)
        assert clock["target_minutes"] == 1
        due = datetime.fromisoformat(clock["due_at"])

        async def ticket_shows(due_at, late):
            ticket = (await tickets.get(f"/v1/tickets/{ticket_id}")).json()
            shown = ticket["sla_due_at"] and datetime.fromisoformat(ticket["sla_due_at"])
            return (shown, ticket["sla_late"]) == (due_at, late)

        await wait_until(lambda: ticket_shows(due, False), 30, interval=0.25)
        scanned = await sla.post("/v1/scan", json={"at": (due + timedelta(seconds=1)).isoformat()})
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["breached"] == 1

        async def escalated():
            ticket = (await tickets.get(f"/v1/tickets/{ticket_id}")).json()
            return ticket if ticket["priority"] == "urgent" else None

        await wait_until(escalated, 60, interval=0.25)
        history = (await tickets.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
        raised = [h for h in history if h["field"] == "priority" and h["after"] == "urgent"]
        assert [h["actor"]["kind"] for h in raised] == ["rule"]
        [breached] = await clocks()
        assert breached["late"] is True
        assert datetime.fromisoformat(breached["breached_at"]) == due + timedelta(seconds=1)
        await wait_until(lambda: ticket_shows(due, True), 30, interval=0.25)
        history = (await tickets.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
        went_late = [h for h in history if h["field"] == "sla_late"]
        assert [(h["after"], h["actor"]["kind"]) for h in went_late] == [(True, "sla_tracker")]
