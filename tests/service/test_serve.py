"""``helpdesk_service.serve`` with real processes: SO_REUSEPORT workers under a supervisor.

The app (tests/service/app.py) answers every request with the pid of the worker serving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpdesk_devstack.ports import free_port
from helpdesk_service.serve import serve

from tests.procs import exited, parent_of

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def started_pids(self) -> set[int]:
        """Every worker the supervisor started, from its log."""
        return {int(p) for p in re.findall(r"worker \d+ started \[(\d+)\]", self.log())}

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"supervisor still running:\n{self.log()}") from None


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def run(workers: int, *args: str, port: int | None = None, **env: str) -> Served:
        port = free_port() if port is None else port
        log_path = tmp_path / f"serve-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.service.app", str(port), str(workers), *args],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO", **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        served = Served(process, port, log_path)
        started.append(served)
        return served

    yield run
    for served in started:  # whatever a failed test left behind
        for pid in served.started_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def pid(self) -> int:
        """The pid of the worker serving this connection."""
        self.writer.write(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        match = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        assert match is not None, head
        return int(await self.reader.readexactly(int(match.group(1))))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def pid_of_new_connection(port: int) -> int | None:
    try:
        connection = await Connection.open(port)
    except OSError:
        return None
    try:
        return await connection.pid()
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        return None
    finally:
        await connection.close()


async def wait_serving(
    served: Served, until: Callable[[set[int]], bool], timeout: float = 60.0
) -> set[int]:
    """Open new connections until the pids that answered satisfy ``until``."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while not until(seen):
        if served.process.poll() is not None:
            raise AssertionError(
                f"supervisor exited ({served.process.returncode}):\n{served.log()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"only {seen} answered:\n{served.log()}")
        pid = await pid_of_new_connection(served.port)
        if pid is None:
            await asyncio.sleep(0.1)
        else:
            seen.add(pid)
    return seen


async def spread(port: int, connections: int = 40, rounds: int = 3) -> Counter[int]:
    """Open ``connections`` at once, like a client's pool; each asks ``rounds`` times.
    Returns how many connections each worker pid served."""
    pool = await asyncio.gather(*(Connection.open(port) for _ in range(connections)))
    try:
        answers = [await asyncio.gather(*(c.pid() for c in pool)) for _ in range(rounds)]
    finally:
        await asyncio.gather(*(c.close() for c in pool))
    per_connection = list(zip(*answers, strict=True))
    # Keep-alive: a connection stays with the worker that accepted it.
    assert all(len(set(pids)) == 1 for pids in per_connection), per_connection
    return Counter(pids[0] for pids in per_connection)


async def test_keepalive_connections_spread_over_workers_and_sigterm_stops_all(start):
    served = start(2)
    workers = await wait_serving(served, lambda seen: len(seen) == 2)
    assert {parent_of(pid) for pid in workers} == {served.process.pid}

    counts = await spread(served.port)
    assert set(counts) == workers, counts
    # 40 connections hashed over 2 workers: fewer than 5 on one happens once in ~10^7 runs.
    assert min(counts.values()) >= 5, counts

    # Idle keep-alive connections must not hold up the stop.
    idle = [await Connection.open(served.port) for _ in range(4)]
    for connection in idle:
        await connection.pid()
    served.process.send_signal(signal.SIGTERM)
    assert served.wait() == 0, served.log()
    assert served.started_pids() == workers
    assert all(exited(pid) for pid in workers)
    for connection in idle:
        await connection.close()
    assert "died" not in served.log()


async def test_a_killed_worker_is_replaced(start):
    served = start(2)
    workers = await wait_serving(served, lambda seen: len(seen) == 2)
    victim, survivor = sorted(workers)

    os.kill(victim, signal.SIGKILL)
    assert exited(victim)
    seen = await wait_serving(served, lambda seen: bool(seen - workers))
    (replacement,) = seen - workers
    assert parent_of(replacement) == served.process.pid
    assert re.search(rf"worker \d \[{victim}\] died \(killed by SIGKILL\)", served.log())

    counts = await spread(served.port)
    assert set(counts) == {survivor, replacement}, counts

    served.process.send_signal(signal.SIGINT)
    assert served.wait() == 0, served.log()
    assert served.started_pids() == {victim, survivor, replacement}
    assert all(exited(pid) for pid in served.started_pids())


async def test_workers_stop_when_the_supervisor_is_killed(start):
    served = start(2)
    workers = await wait_serving(served, lambda seen: len(seen) == 2)
    served.process.kill()  # SIGKILL to the supervisor alone: it cannot tell its workers
    served.process.wait()
    assert all(exited(pid) for pid in workers), served.log()
    assert served.log().count("is gone; stopping") == 2


async def test_workers_failing_at_startup_make_the_supervisor_exit_non_zero(start):
    served = start(2, "2", SERVE_TEST_FAIL_STARTUP="1")
    assert await asyncio.to_thread(served.wait, 60) == 1
    log = served.log()
    assert "SERVE_TEST_FAIL_STARTUP: this app does not start" in log
    assert "workers keep failing at start-up" in log
    assert all(exited(pid) for pid in served.started_pids())


async def test_a_port_in_use_is_refused(start):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        served = start(2, port=taken.getsockname()[1])
        assert await asyncio.to_thread(served.wait) == 1
    assert "cannot listen on 127.0.0.1" in served.log()
    assert not served.started_pids()


async def test_one_worker_serves_in_process(start):
    served = start(1)
    assert await wait_serving(served, bool) == {served.process.pid}
    served.process.send_signal(signal.SIGTERM)
    served.wait()


def test_port_zero_needs_one_worker():
    with pytest.raises(ValueError, match="port 0"):
        serve("tests.service.app:create_app", "127.0.0.1", 0, 2)
