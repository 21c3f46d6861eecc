"""Child processes of the benchmark, each in its own session so that the benchmark, not a
terminal's Ctrl-C, decides the order they stop in; every one is stopped on exit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from helpdesk_devstack.ports import free_port
from helpdesk_devstack.postgres import LocalPostgres

if TYPE_CHECKING:
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# PostgreSQL's settings for a benchmark that reports its busiest statements
# (pg_stat_statements, planning included).
PG_STATEMENTS_SETTINGS = {
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track_planning": "on",
}


class BenchError(RuntimeError):
    pass


def scratch_dir(prefix: str, parent: Path | None = None) -> Path:
    """A new folder for one benchmark's clusters, brokers and logs."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    # PostgreSQL runs as another user when the benchmark runs as root: it must reach its
    # data directory.
    workdir.chmod(0o755)
    return workdir


class Process:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_http_ok(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise BenchError(f"{self.name} exited while starting:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready at {url} after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the whole process group (uvicorn's workers too), then SIGKILL."""
        popen = self.popen
        if popen is None:
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout)
        # Workers may outlive their supervisor: clear the group in any case.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        if popen.poll() is None:
            popen.wait()
        self.popen = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Every child process the benchmark started, stopped newest first by `close()`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._live: list[Process] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        process = Process(name, argv, env, self.log_dir / f"{name}.log")
        self._live.append(process)
        process.start()
        return process

    @property
    def by_name(self) -> dict[str, Process]:
        return {process.name: process for process in self._live}

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self._live:
            self._live.remove(process)

    def close(self) -> None:
        while self._live:
            self.stop(self._live[-1])

    def run_json(self, name: str, args: list[str], timeout: float) -> dict[str, Any]:
        """Run a Python module of bench/ and return the JSON object it printed last."""
        process = self.start(name, [sys.executable, "-m", *args], dict(os.environ))
        assert process.popen is not None
        try:
            returncode = process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{name} did not finish within {timeout:.0f}s") from None
        finally:
            self.stop(process)
        if returncode != 0:
            raise BenchError(f"{name} failed with exit code {returncode}:\n{process.log_tail()}")
        lines = process.log_path.read_text(errors="replace").strip().splitlines()
        for line in reversed(lines):
            if line.startswith("{"):
                result: dict[str, Any] = orjson.loads(line)
                return result
        raise BenchError(f"{name} printed no result:\n{process.log_tail()}")


# The services' own settings, which a benchmark's processes must not take from the caller.
SERVICE_ENV_PREFIXES = ("TICKET_API_", "RULE_ENGINE_", "ROUTER_", "HELPDESK_")


def bench_key() -> str:
    """A fresh API key for one benchmark run."""
    return "hd_bench_" + secrets.token_urlsafe(16)


def clean_env() -> dict[str, str]:
    """This process's environment without the services' own settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_ENV_PREFIXES)}


async def migrate(env: dict[str, str], *commands: str) -> None:
    """``<command> migrate`` for each service command, with ``env``."""
    for command in commands:
        await asyncio.to_thread(
            subprocess.run,
            [str(BIN / command), "migrate"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )


def postmaster_pid(pg: LocalPostgres) -> int:
    return int((pg.data_dir / "postmaster.pid").read_text().split()[0])


@asynccontextmanager
async def local_postgres(
    workdir: Path, *, fast: bool = False, extra_settings: dict[str, str] | None = None
) -> AsyncIterator[LocalPostgres]:
    """A fresh PostgreSQL in ``workdir``/pg on a free port, running until the block ends
    (``fast``: commits do not wait for the disk)."""
    pg = LocalPostgres(workdir / "pg", free_port(), fast=fast, extra_settings=extra_settings)
    await asyncio.to_thread(pg.start)
    try:
        yield pg
    finally:
        await asyncio.to_thread(pg.stop)


@asynccontextmanager
async def app_client(
    app: FastAPI, base_url: str, key: str, *, timeout: float
) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI ``app`` running in this process (its lifespan included), and a client that
    calls it with the API key ``key``."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
        ) as client,
    ):
        yield client


def bench_arguments(description: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with ``--quick`` for a smoke run; only warnings logged."""
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    return parser


@dataclass
class TicketApiStack:
    """PostgreSQL and ticket-api running for one benchmark."""

    procs: Processes
    pg: LocalPostgres
    env: dict[str, str]
    admin_key: str
    service_key: str
    api: Process
    api_url: str


@asynccontextmanager
async def postgres_and_ticket_api(
    workdir: Path, *services: str, pg_settings: dict[str, str] | None = None
) -> AsyncIterator[TicketApiStack]:
    """A fresh PostgreSQL (with ``pg_settings``) in ``workdir`` migrated for ticket-api and
    ``services`` (their commands, e.g. ``helpdesk-router``), and ticket-api serving on it
    with two workers (one per core, as bench/run.py measures it at its best); every process
    stopped on exit."""
    procs = Processes(workdir / "logs")
    admin, service = bench_key(), bench_key()
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    async with local_postgres(workdir, extra_settings=pg_settings) as pg:
        env = clean_env()
        env.update(
            DATABASE_URL=pg.url,
            HELPDESK_ADMIN_KEY=admin,
            HELPDESK_SERVICE_KEY=service,
            LOG_LEVEL="WARNING",
            TICKET_API_PORT=str(api_port),
            TICKET_API_WORKERS="2",
        )
        try:
            await migrate(env, "helpdesk-ticket-api", *services)
            api = procs.start("ticket-api", [str(BIN / "helpdesk-ticket-api"), "serve"], env)
            api.wait_http_ok(f"{api_url}/readyz")
            yield TicketApiStack(procs, pg, env, admin, service, api, api_url)
        finally:
            procs.close()
