"""The time rules admin API: CRUD, order, the built-in spam rule, and the same pointed
422s as action rules (the shared action model and reference checks)."""

from __future__ import annotations

import uuid

from helpdesk_scheduler.main import create_app as create_scheduler

from tests.conftest import admin_client
from tests.rule_engine.conftest import make_sla_level
from tests.scheduler.conftest import all_of, cond, make_time_rule, scheduler_settings

SPAM_RULE = "5c4e2b1a-9d3f-4e8a-b7c6-0f1e2d3c4b5a"
IDLE = cond("updated_at", "older_than", 3, unit="days")


async def test_the_built_in_spam_rule_is_there_and_editable(scheduler):
    rules = (await scheduler.get("/v1/time-rules")).json()["items"]
    (spam,) = [r for r in rules if r["id"] == SPAM_RULE]
    assert spam["name"] == "Delete spam older than 90 days"
    assert spam["active"] is True
    assert spam["actions"] == [{"type": "delete"}]
    assert spam["conditions"]["any"][0]["all"] == [
        {"field": "status", "op": "is", "value": "spam"},
        {"field": "status_changed_at", "op": "older_than", "value": 90, "unit": "days"},
    ]
    edited = await scheduler.patch(
        f"/v1/time-rules/{SPAM_RULE}",
        json={
            "conditions": all_of(
                cond("status", "is", "spam"),
                cond("status_changed_at", "older_than", 30, unit="days"),
            )
        },
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["conditions"]["any"][0]["all"][1]["value"] == 30


async def test_crud_and_order(scheduler):
    first = await make_time_rule(
        scheduler,
        name="Idle",
        conditions=all_of(IDLE),
        actions=[{"type": "add_tags", "tags": ["idle"]}],
    )
    second = await make_time_rule(
        scheduler,
        name="Idle 2",
        notes="why",
        conditions=all_of(IDLE),
        actions=[{"type": "resolve"}],
    )
    assert second["position"] == first["position"] + 10
    assert second["notes"] == "why"
    moved = await scheduler.patch(
        f"/v1/time-rules/{second['id']}", json={"position": 0, "notes": None}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["notes"] is None
    order = [r["id"] for r in (await scheduler.get("/v1/time-rules")).json()["items"]]
    assert order.index(second["id"]) < order.index(first["id"])
    inactive = (await scheduler.get("/v1/time-rules", params={"active": False})).json()["items"]
    assert inactive == []
    assert (await scheduler.delete(f"/v1/time-rules/{first['id']}")).status_code == 204
    assert (await scheduler.get(f"/v1/time-rules/{first['id']}")).status_code == 404


async def test_bad_rules_get_pointed_422s(scheduler, api, sla):
    async def refused(body):
        response = await scheduler.post("/v1/time-rules", json={"name": "Bad", **body})
        assert response.status_code == 422, response.text
        return response.json()["error"]

    no_conditions = await refused({"actions": [{"type": "resolve"}]})
    assert no_conditions["details"][0]["field"] == "conditions"
    empty = await refused({"conditions": {"any": []}, "actions": [{"type": "resolve"}]})
    assert '"conditions": {"every_ticket": true}' in empty["message"]
    changed = await refused(
        {"conditions": all_of(cond("status", "changed")), "actions": [{"type": "resolve"}]}
    )
    assert changed["message"].startswith("conditions.any[0].all[0].op: time rules run on the clock")
    bad_op = await refused(
        {
            "conditions": all_of(cond("updated_at", "older_than", 3)),
            "actions": [{"type": "resolve"}],
        }
    )
    assert bad_op["message"].startswith("conditions.any[0].all[0]")
    stop = await refused(
        {"conditions": all_of(IDLE), "actions": [{"type": "resolve"}, {"type": "stop_rules"}]}
    )
    assert stop["message"].startswith("actions[1].type: time rules run one by one")
    transfer = await refused({"conditions": all_of(IDLE), "actions": [{"type": "transfer"}]})
    assert "department_id, an agent_id or both" in transfer["message"]
    missing = uuid.uuid4()
    department = await refused(
        {
            "conditions": all_of(IDLE),
            "actions": [{"type": "transfer", "department_id": str(missing)}],
        }
    )
    assert department["code"] == "unknown_reference"
    assert department["message"] == f"actions[0].department_id: no department {missing} exists"
    level = await refused(
        {
            "conditions": all_of(IDLE),
            "actions": [{"type": "change_sla_level", "sla_level": "gold"}],
        }
    )
    assert level["code"] == "unknown_reference"
    await make_sla_level(sla, "gold")
    await make_time_rule(
        scheduler,
        conditions=all_of(IDLE),
        actions=[{"type": "change_sla_level", "sla_level": "gold"}],
    )
    every = await make_time_rule(
        scheduler, conditions={"every_ticket": True}, actions=[{"type": "add_tags", "tags": ["x"]}]
    )
    assert every["conditions"] == {"every_ticket": True}


async def test_conditions_on_custom_fields_are_checked_against_their_definitions(scheduler, client):
    created = await client.post(
        "/v1/custom-fields", json={"key": "renewal", "label": "Renewal", "type": "date"}
    )
    assert created.status_code == 201, created.text
    renewal = cond("custom_fields.renewal", "within_last", 7, unit="days")
    await make_time_rule(scheduler, conditions=all_of(renewal), actions=[{"type": "resolve"}])
    unknown = await scheduler.post(
        "/v1/time-rules",
        json={
            "name": "Unknown field",
            "conditions": all_of(cond("custom_fields.renewl", "within_last", 7, unit="days")),
            "actions": [{"type": "resolve"}],
        },
    )
    assert unknown.status_code == 422, unknown.text
    assert "no custom field with key 'renewl'" in unknown.json()["error"]["message"]


async def test_a_search_ticket_api_cannot_run_is_reported_not_a_500(
    database_url, sla_tracker_url, topics
):
    application = create_scheduler(
        # Nothing listens on the discard port; the admin key is checked locally.
        scheduler_settings(database_url, "http://127.0.0.1:9", sla_tracker_url, topics)
    )
    async with (
        application.router.lifespan_context(application),
        admin_client(application, "scheduler") as scheduler,
    ):
        ran = await scheduler.post("/v1/ticks")
        assert ran.status_code == 200, ran.text
        (spam,) = ran.json()["rules"]
        assert spam["rule_id"] == SPAM_RULE
        assert spam["error"].startswith("time rule 'Delete spam older than 90 days': searching")
        preview = await scheduler.post(f"/v1/time-rules/{SPAM_RULE}/preview")
        assert preview.status_code == 502, preview.text
        assert preview.json()["error"]["code"] == "search_failed"
