"""ticket-api and rule-engine with two HTTP workers each (``*_WORKERS=2``): SO_REUSEPORT
workers under a supervisor (helpdesk_service.serve), each with its own lifespan."""

import asyncio
import re
import time

import httpx
import pytest
from helpdesk_devstack.ports import free_port

from tests.e2e.helpers import http, post_ticket
from tests.e2e.suite import ServiceProcess
from tests.procs import cpu_ticks, exited, parent_of

pytestmark = pytest.mark.e2e


def workers_serving(service: ServiceProcess, count: int, timeout: float = 60.0) -> list[int]:
    """The pids of the service's workers, once ``count`` of them serve."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = service.log_path.read_text(errors="replace")
        pids = [int(p) for p in re.findall(r"worker \d+ \[(\d+)\] serving on", log)]
        if len(pids) >= count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"{service.name}: not {count} workers serving:\n{service.log_tail()}")


async def test_two_workers_share_keepalive_connections_and_stop_cleanly(suite, api_port):
    api = suite.ticket_api(api_port, workers=2)
    api.start()
    rules_port = free_port()
    rules = suite.rule_engine(rules_port, api_port, workers=2)
    rules.start()
    api_workers = workers_serving(api, 2)
    rule_workers = workers_serving(rules, 2)
    assert api.process is not None and rules.process is not None
    assert {parent_of(pid) for pid in api_workers} == {api.process.pid}
    assert {parent_of(pid) for pid in rule_workers} == {rules.process.pid}

    before = {pid: cpu_ticks(pid) for pid in api_workers}
    async with http(
        api_port, limits=httpx.Limits(max_connections=40, max_keepalive_connections=40)
    ) as client:

        async def customer(i: int) -> None:
            for j in range(5):
                await post_ticket(client, f"ticket {i}.{j}", f"c{i}@example.com")

        await asyncio.gather(*(customer(i) for i in range(40)))
    used = {pid: cpu_ticks(pid) - before[pid] for pid in api_workers}
    # 40 keep-alive connections hashed over two workers: both do a fair share of the work.
    assert min(used.values()) >= 0.1 * sum(used.values()), used

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rules_port}") as client:
        assert (await client.get("/readyz")).status_code == 200

    for service, pids in ((rules, rule_workers), (api, api_workers)):
        service.stop()  # SIGTERM to the process group, as a process manager does
        assert service.process is not None
        assert service.process.returncode == 0, service.log_tail()
        assert all(exited(pid) for pid in pids)
        assert "died" not in service.log_path.read_text()
