"""HTTP deliveries to a real receiver on loopback: signed (verified with the
standardwebhooks library), retried on failure with the same webhook-id, dead-lettered after
the last attempt; 410, redirects, Retry-After and timeouts as the receiver answers them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from helpdesk_events import ManualClock
from helpdesk_notifier.delivery.schedule import JITTER, MAX_ATTEMPTS, RETRY_DELAYS
from helpdesk_notifier.delivery.signing import webhook_id
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from tests.notifier.conftest import (
    EngineFactory,
    Receiver,
    delivery_row,
    endpoint_secret,
    serve_receiver,
    store,
    wait_until,
)
from tests.notifier.outbound import Outbound, outbound

__all__ = ["outbound"]


def answer(status: int, **headers: str) -> Any:
    async def respond(_: web.BaseRequest) -> web.Response:
        return web.Response(status=status, headers=headers, text=f"answer {status}")

    return respond


async def test_http_request_arrives_signed_and_is_logged(
    outbound: Outbound, receiver: Receiver
) -> None:
    delivery_id = await outbound.store(
        kind="http_request",
        url=receiver.url("/hook?src=rule"),
        method="POST",
        headers={"content-type": "application/json", "x-rule": "17", "webhook-id": "forged"},
        body='{"ticket": "T-000001"}',
    )
    assert await outbound.run_due() == 1

    [got] = receiver.requests
    assert (got.method, got.path, got.body) == ("POST", "/hook", b'{"ticket": "T-000001"}')
    assert got.headers["x-rule"] == "17"
    assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert got.headers["webhook-id"] == webhook_id(delivery_id)
    secret = await endpoint_secret(outbound.db, receiver.url())
    assert secret.startswith("whsec_")
    assert Webhook(secret).verify(got.body, got.headers) == {"ticket": "T-000001"}

    row = await outbound.row(delivery_id)
    assert row.state == "delivered"
    [attempt] = await outbound.attempts(delivery_id)
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, None)
    assert attempt.latency_ms > 0
    # nothing is due any more
    outbound.clock.advance(days=4)
    assert await outbound.run_due() == 0


async def test_a_wrong_secret_does_not_verify(outbound: Outbound, receiver: Receiver) -> None:
    await outbound.store(kind="call_url", url=receiver.url(), method="GET")
    await outbound.run_due()
    [got] = receiver.requests
    assert got.method == "GET"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)


async def test_same_request_stored_twice_is_sent_once(
    outbound: Outbound, receiver: Receiver
) -> None:
    first = await outbound.store(kind="call_url", url=receiver.url(), dedupe_key="e:r:0")
    second = await outbound.store(kind="call_url", url=receiver.url(), dedupe_key="e:r:0")
    assert first == second
    await outbound.run_due()
    assert len(receiver.requests) == 1


async def test_failure_is_retried_with_backoff_and_the_same_webhook_id(
    outbound: Outbound, receiver: Receiver
) -> None:
    start = outbound.clock.now()
    delivery_id, row = await outbound.call_once(receiver, answer(503))
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    low, high = (RETRY_DELAYS[0] * f for f in JITTER)
    assert start + low <= row.next_attempt_at <= start + high + timedelta(seconds=1)

    # not due yet
    assert await outbound.run_due() == 0
    receiver.answers.pop("/hook")
    outbound.clock.set(row.next_attempt_at)
    assert await outbound.run_due() == 1
    assert (await outbound.row(delivery_id)).state == "delivered"
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {webhook_id(delivery_id)}
    log = await outbound.attempts(delivery_id)
    assert [(a.number, a.status_code) for a in log] == [(1, 503), (2, 200)]


async def test_retry_after_is_honoured(outbound: Outbound, receiver: Receiver) -> None:
    delivery_id, row = await outbound.call_once(receiver, answer(429, **{"Retry-After": "600"}))
    assert row.next_attempt_at >= outbound.clock.now() + timedelta(seconds=600)
    [attempt] = await outbound.attempts(delivery_id)
    assert (attempt.status_code, attempt.retry_after_seconds) == (429, 600)
    outbound.clock.advance(seconds=599)
    assert await outbound.run_due() == 0
    outbound.clock.advance(seconds=2)
    assert await outbound.run_due() == 1


async def test_gone_disables_the_endpoint(outbound: Outbound, receiver: Receiver) -> None:
    _, row = await outbound.call_once(receiver, answer(410))
    assert row.state == "dead"
    assert "410" in row.last_error
    # another path on the same origin: the endpoint is disabled, nothing is sent
    second = await outbound.store(kind="call_url", url=receiver.url("/other"))
    await outbound.run_due()
    assert (await outbound.row(second)).state == "dead"
    assert "endpoint disabled" in (await outbound.row(second)).last_error
    assert receiver.received("/other") == []


async def test_redirects_are_not_followed(outbound: Outbound, receiver: Receiver) -> None:
    redirect = answer(302, Location=receiver.url("/internal"))
    delivery_id, row = await outbound.call_once(receiver, redirect)
    assert receiver.received("/internal") == []
    assert row.state == "pending"
    assert "redirect" in row.last_error
    [attempt] = await outbound.attempts(delivery_id)
    assert attempt.status_code == 302


async def test_a_hanging_receiver_times_out_and_is_retried(
    outbound: Outbound, receiver: Receiver
) -> None:
    delivery_id, row = await outbound.call_once(receiver, receiver.hang)
    assert row.state == "pending"
    assert "timed out" in row.last_error
    [attempt] = await outbound.attempts(delivery_id)
    assert attempt.status_code is None


async def test_a_refused_connection_is_retried(outbound: Outbound, smtp_port: int) -> None:
    # smtp_port: a free loopback port nothing listens on
    delivery_id = await outbound.store(kind="call_url", url=f"http://127.0.0.1:{smtp_port}/")
    await outbound.run_due()
    row = await outbound.row(delivery_id)
    assert row.state == "pending"
    assert "Cannot connect" in row.last_error


async def test_dead_after_the_last_attempt_about_three_days_later(
    outbound: Outbound, receiver: Receiver
) -> None:
    receiver.answers["/hook"] = answer(500)
    delivery_id = await outbound.store(kind="call_url", url=receiver.url())
    start = outbound.clock.now()
    row = await outbound.retry_until_dead(delivery_id)
    assert row.state == "dead"
    assert row.attempts == MAX_ATTEMPTS
    elapsed = row.finished_at - start
    assert timedelta(days=2) < elapsed < timedelta(days=4)
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    outbound.clock.advance(days=10)
    assert await outbound.run_due() == 0


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:8080/"],
)
async def test_ssrf_is_checked_at_send_time(outbound: Outbound, url: str) -> None:
    delivery_id = await outbound.store(kind="call_url", url=url)
    await outbound.run_due()
    row = await outbound.row(delivery_id)
    assert row.state == "dead"
    assert "refused" in row.last_error


async def test_malformed_url_is_dead_on_arrival(outbound: Outbound) -> None:
    delivery_id = await outbound.store(kind="call_url", url="ftp://example.com/x")
    row = await outbound.row(delivery_id)
    assert row.state == "dead"
    assert "scheme" in row.last_error
    assert await outbound.run_due() == 0


async def test_a_hanging_endpoint_does_not_hold_up_others(
    db: AsyncEngine, clock: ManualClock, receiver: Receiver, engine_factory: EngineFactory
) -> None:
    # Three attempts in flight at most, two per endpoint: the hanging endpoint's backlog,
    # stored first, takes two slots and the healthy endpoint gets the third.
    deliveries = engine_factory(max_in_flight=3, endpoint_concurrency=2)
    async with serve_receiver() as hanging:
        hanging.answers["/"] = hanging.hang
        for _ in range(6):
            await store(db, clock, kind="call_url", url=hanging.url("/"))
        healthy = [await store(db, clock, kind="call_url", url=receiver.url()) for _ in range(3)]
        run = asyncio.create_task(deliveries.run_due())
        # all three healthy deliveries arrive well within one hanging attempt's timeout
        await wait_until(lambda: len(receiver.requests) == 3, timeout=0.4)
        assert len(hanging.requests) <= 2
        await run
    for delivery_id in healthy:
        assert (await delivery_row(db, delivery_id)).state == "delivered"


@pytest.mark.parametrize(
    "request_fields",
    [
        {"kind": "http_request", "method": "POST", "headers": {"X-Bad": "a\r\nInjected: 1"}},
        {"kind": "http_request", "method": "GET", "headers": {"Bad Name": "x"}},
    ],
)
async def test_a_request_that_cannot_be_built_is_dead_not_retried_for_ever(
    outbound: Outbound, receiver: Receiver, request_fields: dict[str, Any]
) -> None:
    delivery_id = await outbound.store(url=receiver.url(), **request_fields)
    await outbound.run_due()
    row = await outbound.row(delivery_id)
    assert row.state == "dead", row.last_error
    assert row.last_error
    assert receiver.requests == []


async def test_endpoint_concurrency_holds_across_workers(
    db: AsyncEngine, clock: ManualClock, engine_factory: EngineFactory
) -> None:
    # Two workers (two engines, each with its own in-memory state) on one database, two
    # attempts per endpoint: while the first worker's two attempts hang, the second one
    # finds the endpoint full and claims nothing of its backlog.
    first, second = engine_factory(endpoint_concurrency=2), engine_factory(endpoint_concurrency=2)
    async with serve_receiver() as hanging:
        hanging.answers["/"] = hanging.hang
        for _ in range(6):
            await store(db, clock, kind="call_url", url=hanging.url("/"))
        run = asyncio.create_task(first.run_due())
        await wait_until(lambda: len(hanging.requests) == 2)
        assert await second.run_due() == 0
        assert len(hanging.requests) == 2
        # all six are attempted by the first worker, two at a time
        assert await run == 6
