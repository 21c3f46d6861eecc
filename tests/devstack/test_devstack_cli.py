import asyncio
import contextlib
import os
import shutil
import signal
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpdesk_devstack import LocalPostgres, ensure_topics, free_port
from helpdesk_devstack.ports import port_is_free

from tests.procs import exited


@pytest.fixture
def repo_root() -> Iterator[Path]:
    """A stand-in repository root with its own .local/, so a real `make run` is not touched."""
    # Not tmp_path: as root the server runs as another user, which must reach .local/pg.
    root = Path(tempfile.mkdtemp(prefix="helpdesk-test-up-"))
    root.chmod(0o755)
    (root / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n")
    (root / "worker.py").write_text(
        "import os, time\n"
        "print('worker', os.getpid(), os.environ['HELPDESK_ADMIN_KEY'], flush=True)\n"
        "time.sleep(600)\n"
    )
    # A real service too: `up` migrates it and shows its URL (the port its Settings default
    # to); the test serves it on a free port (TICKET_API_PORT=0).
    (root / "Procfile").write_text(
        f"worker: {sys.executable} worker.py\nticket-api: helpdesk-ticket-api serve\n"
    )
    yield root
    # Should `up` have failed to clean up, its servers must not outlive the test.
    LocalPostgres(root / ".local" / "pg", 0).stop()
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((root / ".local" / "broker.pid").read_text()), signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)


async def read_until(stream: asyncio.StreamReader, needle: str, seen: list[str]) -> str:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 120)).decode()
        if not line:
            raise AssertionError(f"output ended before {needle!r}:\n{''.join(seen)}")
        seen.append(line)
        if needle in line:
            return line


@pytest.mark.e2e
async def test_up_starts_the_stack_and_ctrl_c_stops_all_of_it(repo_root: Path):
    pg_port, kafka_port = free_port(), free_port()
    env = {
        **os.environ,
        "HELPDESK_PG_PORT": str(pg_port),
        "HELPDESK_KAFKA_PORT": str(kafka_port),
        "HELPDESK_TOPIC_PARTITIONS": "2",
        "TICKET_API_PORT": "0",
    }
    env.pop("DATABASE_URL", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    up = await asyncio.create_subprocess_exec(
        Path(sysconfig.get_path("scripts")) / "helpdesk-devstack",
        "up",
        cwd=repo_root,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert up.stdout is not None
    seen: list[str] = []
    try:
        worker_line = await read_until(up.stdout, "| worker ", seen)
        output = "".join(seen)
        assert f"postgresql+asyncpg://helpdesk:helpdesk@127.0.0.1:{pg_port}/helpdesk" in output
        assert f"127.0.0.1:{kafka_port}" in output
        assert "http://127.0.0.1:8000/docs" in output
        assert "dev-admin-key" in output
        assert worker_line.split()[-1] == "dev-admin-key"
        worker_pid = int(worker_line.split()[-2])
        topics = ["helpdesk.tickets", "helpdesk.agents", "helpdesk.sla", "helpdesk.notifications"]
        assert await ensure_topics(f"127.0.0.1:{kafka_port}", topics) == []

        up.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(up.stdout.read(), 60)).decode()
        assert await up.wait() == 0
    finally:
        if up.returncode is None:
            up.kill()
    assert "local stack stopped" in rest
    assert not LocalPostgres(repo_root / ".local" / "pg", pg_port).is_running()
    assert port_is_free(kafka_port)
    assert await asyncio.to_thread(exited, worker_pid)
    assert (repo_root / ".local" / "pg" / "PG_VERSION").exists()  # data is kept
