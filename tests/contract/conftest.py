"""Every service the Procfile names, built with its own ``create_app`` against one fresh
database copied from the session's template and served over loopback by uvicorn in a
thread of its own (its own event loop, so schemathesis' blocking client can call it)."""

from __future__ import annotations

import importlib
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from helpdesk_devstack.postgres import LocalPostgres
from helpdesk_devstack.stack import procfile_processes
from helpdesk_service.cli import ServiceCli

from tests.conftest import ADMIN_KEY, PROCFILE, SERVICE_KEY

# The services that answer HTTP: those with a `serve` process, in Procfile order but for
# those others reach when they start or check references: ticket-api (keys, directory
# records), then the sla-tracker (SLA levels rules name).
_REACHED_BY_OTHERS = ["helpdesk-ticket-api", "helpdesk-sla-tracker"]
SERVED = sorted(
    (p.script for p in procfile_processes(PROCFILE) if p.command == "serve"),
    key=lambda script: (
        _REACHED_BY_OTHERS.index(script)
        if script in _REACHED_BY_OTHERS
        else len(_REACHED_BY_OTHERS)
    ),
)


@dataclass(frozen=True)
class RunningService:
    script: str
    url: str


@pytest.fixture(scope="module")
async def contract_database(pg_server: LocalPostgres, suite_template: str) -> AsyncIterator[str]:
    """One database for the module: the fuzzer's rows stay out of every other test's."""
    name = f"contract_{uuid.uuid4().hex[:8]}"
    await pg_server.create_database(name, template=suite_template)
    yield pg_server.url_for(name)
    await pg_server.drop_database(name)


def _service_cli(script: str) -> ServiceCli:
    cli: ServiceCli = importlib.import_module(f"{script.replace('-', '_')}.cli").SERVICE
    return cli


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{app.title} did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def services(contract_database: str) -> Iterator[dict[str, RunningService]]:
    """Each served service, running, by console script name."""
    running: dict[str, RunningService] = {}
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []
    urls: dict[str, str] = {}
    try:
        for script in SERVED:
            cli = _service_cli(script)
            given: dict[str, Any] = {
                "database_url": contract_database,
                "admin_key": ADMIN_KEY,
                "service_key": SERVICE_KEY,
                "ticket_api_url": urls.get("helpdesk-ticket-api", ""),
                "sla_tracker_url": urls.get("helpdesk-sla-tracker", ""),
                "db_pool_size": 3,
                "db_max_overflow": 3,
            }
            settings = cli.settings(
                **{k: v for k, v in given.items() if k in cli.settings.model_fields}
            )
            module, factory = cli.app.split(":")
            app = getattr(importlib.import_module(module), factory)(settings)
            server, thread, url = _serve(app)
            servers.append((server, thread))
            running[script] = RunningService(script, url)
            urls[script] = url
        yield running
    finally:
        for server, thread in reversed(servers):
            server.should_exit = True
            thread.join(timeout=30)
