"""The notifier as real processes: a rule's HTTP request, published by the rule worker,
arrives signed at a receiver — also when the notifier worker is killed (SIGKILL) in the
middle of the delivery: after the restart it is delivered, every time with the same
webhook-id, so the receiver keeps one copy. A ticket a person assigns then shows in the
agent's in-app notifications."""

import asyncio
import socket

import pytest
from aiohttp import web
from helpdesk_devstack.ports import free_port
from standardwebhooks import Webhook

from tests.e2e.helpers import http, post_ticket, wait_until

pytestmark = pytest.mark.e2e


async def test_signed_delivery_after_a_notifier_kill_and_an_agent_notification(suite, api_port):
    received: list[tuple[dict[str, str], bytes]] = []
    first_arrived = asyncio.Event()
    never = asyncio.Event()

    async def receive(request: web.BaseRequest) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        if len(received) == 1:
            # The first attempt hangs until its worker is killed.
            first_arrived.set()
            await never.wait()
        return web.Response(text="ok")

    runner = web.ServerRunner(web.Server(receive), handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    receiver_url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks/tickets"

    rules_port, notifier_port = free_port(), free_port()
    suite.ticket_api(api_port).start()
    suite.relay().start()
    suite.rule_engine(rules_port, api_port).start()
    suite.rule_worker(api_port).start()
    suite.notifier(notifier_port, api_port).start()
    worker = suite.notifier_worker(lease_seconds=4)
    worker.start()
    try:
        async with (
            http(api_port) as tickets,
            http(rules_port) as rules,
            http(notifier_port) as notifier,
        ):
            endpoint = await notifier.post("/v1/endpoints", json={"url": receiver_url})
            assert endpoint.status_code == 201, endpoint.text
            secret = endpoint.json()["secret"]
            rule = await rules.post(
                "/v1/rules",
                json={
                    "name": "Tell the CRM",
                    "conditions": {"every_ticket": True},
                    "actions": [
                        {
                            "type": "http_request",
                            "method": "POST",
                            "url": receiver_url,
                            "headers": {"Content-Type": "application/json"},
                            "body": '{"code": "{{ ticket.code }}"}',
                        }
                    ],
                },
            )
            assert rule.status_code == 201, rule.text
            created = await post_ticket(
                tickets, "Printer on fire", "cleo@example.com", message={"body": "It is on fire."}
            )
            code = created["code"]

            async with asyncio.timeout(60):
                await first_arrived.wait()
            worker.kill()
            suite.notifier_worker(lease_seconds=4, name="notifier-worker-2").start()

            async def delivered():
                found = (await notifier.get("/v1/deliveries")).json()
                return bool(found) and found[0]["state"] == "delivered"

            await wait_until(delivered)
            [delivery] = (await notifier.get("/v1/deliveries")).json()
            assert delivery["attempts"] == 2
            assert len(received) == 2
            assert {headers["webhook-id"] for headers, _ in received} == {delivery["webhook_id"]}
            headers, body = received[-1]
            assert Webhook(secret).verify(body, headers) == {"code": code}
            detail = (await notifier.get(f"/v1/deliveries/{delivery['id']}")).json()
            # the killed attempt left no log line; the one after the restart did
            assert [(a["number"], a["status_code"]) for a in detail["attempt_log"]] == [(2, 200)]

            # A person assigns the ticket: the agent finds it in their in-app notifications.
            agent = (
                await tickets.post(
                    "/v1/agents", json={"name": "Alice", "email": "alice@example.com"}
                )
            ).json()
            key = (
                await tickets.post(
                    "/v1/api-keys", json={"name": "alice", "role": "agent", "agent_id": agent["id"]}
                )
            ).json()["key"]
            transfer = await tickets.post(
                f"/v1/tickets/{created['id']}/transfer", json={"agent_id": agent["id"]}
            )
            assert transfer.status_code < 300, transfer.text

            async def notified():
                found = await notifier.get(
                    "/v1/agents/me/notifications", headers={"Authorization": f"Bearer {key}"}
                )
                return [n["kind"] for n in found.json()] == ["assigned"]

            await wait_until(notified)
    finally:
        never.set()
        await runner.cleanup()
