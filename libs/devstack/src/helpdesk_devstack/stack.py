"""What `make run` brings up besides PostgreSQL and the broker, found in the Procfile.

Every process line ``<process>: helpdesk-<service> <command>`` belongs to a service: each
service's console script is run with ``migrate`` before the processes start (in the order the
Procfile names them), and each ``serve`` process is an HTTP service whose URL the banner shows,
at the port its Settings default to. A commented ``#   <name>: helpdesk-<service> serve`` is a
service of the design that has not landed yet. Adding a service needs no edit here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Final, NamedTuple

TOPICS: Final = (
    "helpdesk.tickets",
    "helpdesk.agents",
    "helpdesk.sla",
    "helpdesk.notifications",
)

_PROCESS = re.compile(r"^([\w.-]+):\s*(helpdesk-[\w-]+)\s+(\S+)")
_PENDING = re.compile(r"^#\s*([\w.-]+):\s*helpdesk-[\w-]+\s+serve\b")


class ProcfileProcess(NamedTuple):
    name: str
    script: str
    command: str


class ServiceEndpoint(NamedTuple):
    name: str
    url: str | None
    docs_path: str | None = "/docs"


def procfile_processes(procfile: Path) -> list[ProcfileProcess]:
    """The Procfile's processes that run a service's console script."""
    processes = []
    for line in procfile.read_text().splitlines():
        match = _PROCESS.match(line.strip())
        if match:
            processes.append(ProcfileProcess(*match.groups()))
    return processes


def migration_commands(procfile: Path) -> list[tuple[str, str]]:
    """``(script, "migrate")`` for each service in the Procfile, in order, once each. Run
    with DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS set."""
    scripts = dict.fromkeys(process.script for process in procfile_processes(procfile))
    return [(script, "migrate") for script in scripts]


def service_endpoints(procfile: Path, host: str = "127.0.0.1") -> list[ServiceEndpoint]:
    """The HTTP services (``serve`` processes) and where they listen."""
    endpoints = []
    for process in procfile_processes(procfile):
        if process.command == "serve":
            port = default_port(process.script)
            url = None if port is None else f"http://{host}:{port}"
            endpoints.append(ServiceEndpoint(process.name, url))
    return endpoints


def pending_services(procfile: Path) -> list[str]:
    """Services the Procfile names in a comment: designed, not landed yet."""
    return [
        match[1]
        for line in procfile.read_text().splitlines()
        if (match := _PENDING.match(line.strip()))
    ]


def default_port(script: str) -> int | None:
    """The port ``<script> serve`` listens on by default: its Settings' ``port``, read from
    the installed package (``helpdesk-rule-engine`` → ``helpdesk_rule_engine.config``).
    None if the package is not installed here."""
    package = script.replace("-", "_")
    try:
        config = importlib.import_module(f"{package}.config")
    except ImportError:
        return None
    port = config.Settings.model_fields["port"].default
    return port if isinstance(port, int) else None
