"""A rule that refers to a department, agent or SLA level that does not exist is refused
when it is saved, with the action and the id named, instead of failing each time it fires."""

from __future__ import annotations

import uuid

from helpdesk_rule_engine.config import Settings as RuleEngineSettings
from helpdesk_rule_engine.main import create_app as create_rule_engine

from tests.conftest import admin_client, running, service_settings
from tests.rule_engine.conftest import any_of, cond, make_sla_level


def _rule(*actions):
    return {"name": "Route", "conditions": {"every_ticket": True}, "actions": list(actions)}


async def test_a_transfer_to_a_missing_department_or_agent_is_refused_at_save(rules, api):
    department = await api.department()
    missing = uuid.uuid4()
    response = await rules.post(
        "/v1/rules",
        json=_rule(
            {"type": "add_tags", "tags": ["x"]},
            {"type": "transfer", "department_id": department["id"], "agent_id": str(missing)},
        ),
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_reference"
    assert error["message"] == f"actions[1].agent_id: no agent {missing} exists"


async def test_a_transfer_needs_a_department_or_an_agent(rules):
    response = await rules.post("/v1/rules", json=_rule({"type": "transfer"}))
    assert response.status_code == 422, response.text
    assert "department_id, an agent_id or both" in response.json()["error"]["message"]


async def test_a_patch_that_points_a_transfer_nowhere_is_refused(rules, api):
    department = await api.department()
    created = await rules.post(
        "/v1/rules", json=_rule({"type": "transfer", "department_id": department["id"]})
    )
    assert created.status_code == 201, created.text
    missing = uuid.uuid4()
    response = await rules.patch(
        f"/v1/rules/{created.json()['id']}",
        json={"actions": [{"type": "transfer", "department_id": str(missing)}]},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == (
        f"actions[0].department_id: no department {missing} exists"
    )


async def test_every_ticket_is_asked_for_not_a_default(rules):
    without = await rules.post("/v1/rules", json={"name": "All", "actions": [{"type": "resolve"}]})
    assert without.status_code == 422, without.text
    empty = await rules.post(
        "/v1/rules", json=_rule({"type": "resolve"}) | {"conditions": {"any": []}}
    )
    assert empty.status_code == 422, empty.text
    assert '"conditions": {"every_ticket": true}' in empty.json()["error"]["message"]
    explicit = await rules.post(
        "/v1/rules", json=_rule({"type": "resolve"}) | {"conditions": {"every_ticket": True}}
    )
    assert explicit.status_code == 201, explicit.text
    assert explicit.json()["conditions"] == {"every_ticket": True}
    half = await rules.post(
        "/v1/rules", json=_rule({"type": "resolve"}) | {"conditions": {"every_ticket": False}}
    )
    assert half.status_code == 422, half.text


async def test_a_rule_whose_department_was_deleted_is_flagged(api, client, rules, engine):
    department = await api.department()
    created = await rules.post(
        "/v1/rules", json=_rule({"type": "transfer", "department_id": department["id"]})
    )
    rule = created.json()
    assert rule["broken_reference"] is None
    assert (await client.delete(f"/v1/departments/{department['id']}")).status_code == 204
    ticket = await api.ticket()
    await engine.drain()
    (evaluation,) = (
        await rules.get(f"/v1/tickets/{ticket['id']}/evaluations", params={"rule_id": rule["id"]})
    ).json()["items"]
    (result,) = evaluation["results"]
    assert result["outcome"] == "failed"
    expected = f"actions[0] (transfer): department_id: no department with id {department['id']}"
    assert result["broken_reference"] == expected
    flagged = (await rules.get(f"/v1/rules/{rule['id']}")).json()
    assert flagged["broken_reference"] == expected
    other = await api.department()
    repaired = await rules.patch(
        f"/v1/rules/{rule['id']}",
        json={"actions": [{"type": "transfer", "department_id": other["id"]}]},
    )
    assert repaired.status_code == 200, repaired.text
    assert repaired.json()["broken_reference"] is None


async def test_an_sla_level_the_tracker_does_not_know_is_refused_at_save(rules, sla):
    await make_sla_level(sla, "gold")
    known = await rules.post(
        "/v1/rules",
        json=_rule({"type": "change_sla_level", "sla_level": "gold"})
        | {"conditions": any_of([cond("sla_level", "in", ["gold"])])},
    )
    assert known.status_code == 201, known.text
    unknown = await rules.post(
        "/v1/rules", json=_rule({"type": "change_sla_level", "sla_level": "platinum"})
    )
    assert unknown.status_code == 422, unknown.text
    error = unknown.json()["error"]
    assert error["code"] == "unknown_reference"
    assert error["message"] == "actions[0].sla_level: the sla-tracker knows no SLA level 'platinum'"
    condition = await rules.patch(
        f"/v1/rules/{known.json()['id']}",
        json={"conditions": any_of([cond("sla_level", "is_not", "bronze")])},
    )
    assert condition.status_code == 422, condition.text
    assert condition.json()["error"]["message"] == (
        "conditions.any[0].all[0].value: the sla-tracker knows no SLA level 'bronze'"
    )


async def test_an_unreachable_sla_tracker_refuses_the_save_with_503(ticket_api_url, database_url):
    settings = service_settings(
        RuleEngineSettings,
        database_url,
        ticket_api_url=ticket_api_url,
        # Nothing listens on the discard port.
        sla_tracker_url="http://127.0.0.1:9",
        db_pool_size=1,
        db_max_overflow=1,
    )
    async with (
        running(create_rule_engine(settings)) as application,
        admin_client(application, "rule-engine") as rules,
    ):
        response = await rules.post(
            "/v1/rules", json=_rule({"type": "change_sla_level", "sla_level": "gold"})
        )
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "reference_check_unavailable"
        plain = await rules.post("/v1/rules", json=_rule({"type": "resolve"}))
        assert plain.status_code == 201, plain.text
