"""The admin API: routing policies per department and channel, agent routing profiles,
their defaults and the 422s that say what to fix."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Api


def by_channel(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["channel"]: item for item in body["items"]}


async def test_a_new_department_works_with_the_defaults(
    router: httpx.AsyncClient, api: Api
) -> None:
    department = await api.department()
    response = await router.get(f"/v1/departments/{department['id']}/policies")
    assert response.status_code == 200, response.text
    policies = by_channel(response.json())
    assert policies["chat"] == {
        "channel": "chat",
        "method": "average_utilization",
        "distribution": "push",
        "offer_timeout_seconds": 30,
        "configured": False,
    }
    assert policies["call"]["method"] == "random"
    for queued in ("email", "social"):
        assert policies[queued]["distribution"] == "pull"
        assert policies[queued]["configured"] is False


async def test_a_policy_set_is_what_applies_until_reset(
    router: httpx.AsyncClient, api: Api
) -> None:
    department = await api.department()
    path = f"/v1/departments/{department['id']}/policies"
    response = await router.put(
        f"{path}/email", json={"method": "max_utilization", "distribution": "push"}
    )
    assert response.status_code == 200, response.text
    email = by_channel(response.json())["email"]
    assert (email["method"], email["distribution"], email["configured"]) == (
        "max_utilization",
        "push",
        True,
    )
    response = await router.put(
        f"{path}/chat", json={"method": "ring_all", "offer_timeout_seconds": 45}
    )
    assert by_channel(response.json())["chat"]["offer_timeout_seconds"] == 45
    assert by_channel((await router.get(path)).json())["email"]["method"] == "max_utilization"

    reset = await router.delete(f"{path}/email")
    assert reset.status_code == 200
    assert by_channel(reset.json())["email"]["configured"] is False
    assert by_channel(reset.json())["chat"]["method"] == "ring_all"


@pytest.mark.parametrize(
    ("channel", "body", "says"),
    [
        ("chat", {"method": "fastest"}, "method"),
        ("chat", {"method": "random", "distribution": "sideways"}, "distribution"),
        ("chat", {"method": "random", "offer_timeout_seconds": 0}, "offer_timeout_seconds"),
        ("chat", {"method": "random", "colour": "red"}, "colour"),
        ("call", {"method": "round_robin"}, "cannot route calls"),
        ("email", {"method": "ring_all"}, "ring_all offers live conversations"),
        ("email", {"method": "priority"}, "priority routes calls"),
        ("chat", {"method": "ring_all", "distribution": "pull"}, "use distribution push"),
        ("fax", {"method": "random"}, "channel"),
    ],
)
async def test_a_bad_policy_is_a_422_that_says_what_to_fix(
    router: httpx.AsyncClient, api: Api, channel: str, body: dict[str, Any], says: str
) -> None:
    department = await api.department()
    response = await router.put(f"/v1/departments/{department['id']}/policies/{channel}", json=body)
    assert response.status_code == 422, response.text
    assert says in response.text
    after = await router.get(f"/v1/departments/{department['id']}/policies")
    assert not any(p["configured"] for p in after.json()["items"])


async def test_a_policy_for_an_unknown_department_is_a_422(router: httpx.AsyncClient) -> None:
    unknown = uuid.uuid4()
    response = await router.put(
        f"/v1/departments/{unknown}/policies/chat", json={"method": "random"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(
        f"department_id: ticket-api has no department {unknown}"
    )
    assert (await router.get(f"/v1/departments/{unknown}/policies")).status_code == 422


async def test_an_agent_profile_has_defaults_and_takes_priority_and_load(
    router: httpx.AsyncClient, api: Api
) -> None:
    agent = await api.agent()
    path = f"/v1/agents/{agent['id']}/profile"
    defaults = by_channel((await router.get(path)).json())
    assert defaults["chat"] == {
        "channel": "chat",
        "priority": 1,
        "max_load": 3,
        "configured": False,
    }
    assert defaults["call"]["max_load"] == 1

    response = await router.put(f"{path}/chat", json={"priority": 7, "max_load": 5})
    assert response.status_code == 200, response.text
    chat = by_channel(response.json())["chat"]
    assert (chat["priority"], chat["max_load"], chat["configured"]) == (7, 5, True)

    reset = await router.delete(f"{path}/chat")
    assert by_channel(reset.json())["chat"]["configured"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"priority": 0, "max_load": 3}, "priority"),
        ({"priority": 101, "max_load": 3}, "priority"),
        ({"priority": 5, "max_load": 0}, "max_load"),
        ({"priority": 5}, "max_load"),
        ({"priority": "high", "max_load": 2}, "priority"),
    ],
)
async def test_a_bad_profile_is_a_422_naming_the_field(
    router: httpx.AsyncClient, api: Api, body: dict[str, Any], field: str
) -> None:
    agent = await api.agent()
    response = await router.put(f"/v1/agents/{agent['id']}/profile/chat", json=body)
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert fields == [field]


async def test_a_profile_for_an_unknown_agent_is_a_422(router: httpx.AsyncClient) -> None:
    unknown = uuid.uuid4()
    response = await router.put(
        f"/v1/agents/{unknown}/profile/chat", json={"priority": 1, "max_load": 2}
    )
    assert response.status_code == 422, response.text
    assert f"ticket-api has no agent {unknown}" in response.json()["error"]["message"]


async def test_only_an_admin_changes_policies(
    router_app: Any, router: httpx.AsyncClient, api: Api
) -> None:
    department = await api.department()
    agent = await api.agent([department["id"]])
    key = await api.agent_key(agent["id"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(router_app),
        base_url="http://router",
        headers={"Authorization": f"Bearer {key}"},
    ) as as_agent:
        path = f"/v1/departments/{department['id']}/policies"
        assert (await as_agent.get(path)).status_code == 200
        assert (await as_agent.put(f"{path}/chat", json={"method": "random"})).status_code == 403
    assert (await router.get(path, headers={"Authorization": "Bearer nope"})).status_code == 401
