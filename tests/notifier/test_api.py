"""The admin API: the delivery log, dead letters and manual redelivery, endpoints with
secret rotation (two valid signatures) and the SSRF check when an endpoint is saved."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest
from helpdesk_notifier.delivery.schedule import JITTER, MAX_ATTEMPTS, RETRY_DELAYS
from helpdesk_notifier.delivery.signing import webhook_id
from standardwebhooks import Webhook

from tests.notifier.conftest import Receiver
from tests.notifier.outbound import Outbound, outbound
from tests.notifier.test_http_delivery import answer

__all__ = ["outbound"]


async def test_dead_letter_list_detail_and_redelivery(
    outbound: Outbound, receiver: Receiver, notifier: httpx.AsyncClient
) -> None:
    delivery_id, _ = await outbound.call_once(receiver, answer(410))

    dead = (await notifier.get("/v1/deliveries", params={"state": "dead"})).json()
    assert [d["id"] for d in dead] == [str(delivery_id)]
    assert dead[0]["webhook_id"] == webhook_id(delivery_id)
    assert dead[0]["next_attempt_at"] is None
    detail = (await notifier.get(f"/v1/deliveries/{delivery_id}")).json()
    [attempt] = detail["attempt_log"]
    assert attempt["status_code"] == 410
    assert attempt["latency_ms"] > 0
    assert (await notifier.get("/v1/deliveries", params={"state": "pending"})).json() == []

    # the receiver is back: enable its endpoint, redeliver
    receiver.answers.pop("/hook")
    [endpoint] = (await notifier.get("/v1/endpoints")).json()
    assert endpoint["disabled_reason"] == "answered 410 Gone"
    enabled = await notifier.post(f"/v1/endpoints/{endpoint['id']}/enable")
    assert enabled.json()["disabled_at"] is None
    again = await notifier.post(f"/v1/deliveries/{delivery_id}/redeliver")
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "pending"
    conflict = await notifier.post(f"/v1/deliveries/{delivery_id}/redeliver")
    assert conflict.status_code == 409
    await outbound.run_due()
    detail = (await notifier.get(f"/v1/deliveries/{delivery_id}")).json()
    assert detail["state"] == "delivered"
    assert [(a["number"], a["status_code"]) for a in detail["attempt_log"]] == [(1, 410), (2, 200)]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {webhook_id(delivery_id)}


async def test_unknown_delivery_and_endpoint_are_404(notifier: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    assert (await notifier.get(f"/v1/deliveries/{missing}")).status_code == 404
    assert (await notifier.post(f"/v1/deliveries/{missing}/redeliver")).status_code == 404
    assert (await notifier.post(f"/v1/endpoints/{missing}/enable")).status_code == 404
    assert (await notifier.get("/v1/deliveries/not-a-uuid")).status_code == 422
    assert (await notifier.get("/v1/deliveries", params={"state": "lost"})).status_code == 422


async def test_rotation_signs_with_both_secrets_until_the_old_expires(
    outbound: Outbound, receiver: Receiver, notifier: httpx.AsyncClient
) -> None:
    registered = await notifier.post("/v1/endpoints", json={"url": receiver.url("/any")})
    assert registered.status_code == 201, registered.text
    endpoint = registered.json()
    old = endpoint["secret"]
    rotated = await notifier.post(
        f"/v1/endpoints/{endpoint['id']}/rotate-secret", json={"keep_previous_hours": 1}
    )
    new = rotated.json()["secret"]
    assert new != old
    assert rotated.json()["previous_secret"] == old

    await outbound.store(kind="http_request", url=receiver.url(), method="POST", body="{}")
    await outbound.run_due()
    [got] = receiver.requests
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    # a receiver holding either secret verifies
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)

    # after the overlap only the new secret signs (checked by signing, as the receiver's
    # clock would refuse a timestamp an hour ahead)
    outbound.clock.advance(hours=1, seconds=1)
    await outbound.store(kind="http_request", url=receiver.url(), method="POST", body="{}")
    await outbound.run_due()
    late = receiver.requests[1]
    signature = late.headers["webhook-signature"]
    assert " " not in signature
    timestamp = outbound.clock.now().replace(microsecond=0)
    assert signature == Webhook(new).sign(late.headers["webhook-id"], timestamp, late.body)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://0x0a000001/",
        "http://[::ffff:192.168.0.1]/",
        "gopher://example.com/",
    ],
)
async def test_an_internal_endpoint_is_refused_when_saved(
    notifier: httpx.AsyncClient, url: str
) -> None:
    response = await notifier.post("/v1/endpoints", json={"url": url})
    assert response.status_code == 422, response.text
    assert "url:" in response.json()["error"]["message"]


async def test_endpoint_registered_twice_is_one_endpoint(
    notifier: httpx.AsyncClient, receiver: Receiver
) -> None:
    first = (await notifier.post("/v1/endpoints", json={"url": receiver.url("/a")})).json()
    second = (await notifier.post("/v1/endpoints", json={"url": receiver.url("/b")})).json()
    assert first["id"] == second["id"]
    assert first["origin"] == f"http://127.0.0.1:{receiver.port}"


async def test_redelivery_of_a_dead_letter_starts_a_new_round(
    outbound: Outbound, receiver: Receiver, notifier: httpx.AsyncClient
) -> None:
    receiver.answers["/hook"] = answer(500)
    delivery_id = await outbound.store(kind="call_url", url=receiver.url())
    assert (await outbound.retry_until_dead(delivery_id)).state == "dead"

    assert (await notifier.post(f"/v1/deliveries/{delivery_id}/redeliver")).status_code == 200
    await outbound.run_due()
    detail = (await notifier.get(f"/v1/deliveries/{delivery_id}")).json()
    # still failing, but retried on the schedule from its start, and the log keeps counting
    assert detail["state"] == "pending"
    assert detail["attempts"] == MAX_ATTEMPTS + 1
    assert detail["attempt_log"][-1]["number"] == MAX_ATTEMPTS + 1
    wait = datetime.fromisoformat(detail["next_attempt_at"]) - outbound.clock.now()
    assert wait <= RETRY_DELAYS[0] * JITTER[1]
