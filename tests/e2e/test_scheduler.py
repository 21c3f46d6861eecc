"""The scheduler as real processes beside ticket-api and the sla-tracker: a time rule
naming an SLA level is checked with the sla-tracker at save, previewed for an instant two
days ahead, and a tick run for that instant (time travel: nothing waits for real time)
sets the level and tags the ticket, with the history naming the time rule; the ticker
process runs beside it."""

from datetime import datetime, timedelta

import pytest
from helpdesk_devstack.ports import free_port

from tests.e2e.helpers import http, post_ticket

pytestmark = pytest.mark.e2e


async def test_a_time_rule_fires_on_a_tick_for_an_instant_ahead(suite, api_port):
    sla_port, scheduler_port = free_port(), free_port()
    suite.ticket_api(api_port).start()
    suite.sla_tracker(sla_port, api_port).start()
    suite.scheduler(scheduler_port, api_port, sla_port).start()
    suite.scheduler_ticker(f"http://127.0.0.1:{api_port}").start()
    async with (
        http(api_port) as tickets,
        http(sla_port) as sla,
        http(scheduler_port) as scheduler,
    ):
        body = {
            "name": "Waiting two days",
            "conditions": {
                "any": [
                    {
                        "all": [
                            {"field": "status", "op": "is", "value": "new"},
                            {"field": "created_at", "op": "older_than", "value": 2, "unit": "days"},
                        ]
                    }
                ]
            },
            "actions": [
                {"type": "change_sla_level", "sla_level": "late"},
                {"type": "add_tags", "tags": ["waiting"]},
            ],
        }
        unknown = await scheduler.post("/v1/time-rules", json=body)
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["error"]["code"] == "unknown_reference"
        level = await sla.put("/v1/levels/late", json={"first_response_minutes": 60})
        assert level.status_code == 201, level.text
        rule = await scheduler.post("/v1/time-rules", json=body)
        assert rule.status_code == 201, rule.text
        rule_id = rule.json()["id"]
        ticket = await post_ticket(
            tickets, "Nobody answered", "e2e-scheduler@example.com", message={"body": "Hello?"}
        )
        ahead = datetime.fromisoformat(ticket["created_at"]) + timedelta(days=2, minutes=1)

        listed = await scheduler.post(
            f"/v1/time-rules/{rule_id}/preview", params={"at": ahead.isoformat()}
        )
        assert listed.status_code == 200, listed.text
        assert [item["ticket_id"] for item in listed.json()["items"]] == [ticket["id"]]

        ran = await scheduler.post("/v1/ticks", params={"at": ahead.isoformat()})
        assert ran.status_code == 200, ran.text
        (outcome,) = [r for r in ran.json()["rules"] if r["rule_id"] == rule_id]
        assert outcome["fired"] == [ticket["id"]]

        now = (await tickets.get(f"/v1/tickets/{ticket['id']}")).json()
        assert now["sla_level"] == "late" and now["tags"] == ["waiting"]
        history = (await tickets.get(f"/v1/tickets/{ticket['id']}/history")).json()["items"]
        actors = {(h["actor"]["kind"], h["actor"]["name"]) for h in history[1:]}
        assert actors == {("time_rule", "Waiting two days")}
