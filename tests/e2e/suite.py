"""Starts the suite's real processes for end-to-end tests.

Each service is a ``ServiceProcess`` launched from the workspace's console scripts with its
environment, waited on until ready, and killable with SIGKILL to test crash recovery.
Later services add a factory method to ``Suite``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


@dataclass
class ServiceProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # Generous: on a loaded machine (two test workers each starting a suite) a service's
    # imports alone can take half a minute; the wait ends as soon as it answers.
    def start(self, timeout: float = 90.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if self.ready_url is not None:
            self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(self.ready_url or "", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Suite:
    database_url: str
    bootstrap_servers: str
    topic_prefix: str
    log_dir: Path
    admin_key: str
    service_key: str
    processes: list[ServiceProcess] = field(default_factory=list)

    def base_env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TICKET_API_", "HELPDESK_"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap_servers,
            HELPDESK_TOPIC_PREFIX=self.topic_prefix,
            HELPDESK_ADMIN_KEY=self.admin_key,
            HELPDESK_SERVICE_KEY=self.service_key,
            LOG_LEVEL="INFO",
        )
        return env

    def ticket_api(self, port: int, workers: int = 1) -> ServiceProcess:
        env = {"TICKET_API_PORT": str(port), "TICKET_API_WORKERS": str(workers)}
        return self._start_process("ticket-api", "serve", env, ready_port=port)

    def relay(self, name: str = "relay") -> ServiceProcess:
        return self._start_process("ticket-api", "relay", {}, name=name)

    def rule_engine(self, port: int, ticket_api_port: int, workers: int = 1) -> ServiceProcess:
        env = {
            "RULE_ENGINE_PORT": str(port),
            "RULE_ENGINE_WORKERS": str(workers),
            **_ticket_api_at(ticket_api_port),
        }
        return self._start_process("rule-engine", "serve", env, ready_port=port)

    def rule_worker(self, ticket_api_port: int, name: str = "rule-worker") -> ServiceProcess:
        env = _ticket_api_at(ticket_api_port) | _short_kafka_session("RULE_ENGINE")
        return self._start_process("rule-engine", "worker", env, name=name)

    def router(self, port: int, ticket_api_port: int) -> ServiceProcess:
        env = {"ROUTER_PORT": str(port), **_ticket_api_at(ticket_api_port)}
        return self._start_process("router", "serve", env, ready_port=port)

    def router_worker(self, ticket_api_port: int, name: str = "router-worker") -> ServiceProcess:
        env = _ticket_api_at(ticket_api_port) | _short_kafka_session("ROUTER")
        return self._start_process("router", "worker", env, name=name)

    def notifier(self, port: int, ticket_api_port: int) -> ServiceProcess:
        env = {
            "NOTIFIER_PORT": str(port),
            **_ticket_api_at(ticket_api_port),
            "NOTIFIER_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        return self._start_process("notifier", "serve", env, ready_port=port)

    def notifier_worker(
        self, *, lease_seconds: float = 60, name: str = "notifier-worker"
    ) -> ServiceProcess:
        env = {
            # Receivers of the tests listen on loopback.
            "NOTIFIER_ALLOWED_NETWORKS": "127.0.0.0/8",
            "NOTIFIER_DELIVERY_LEASE_SECONDS": str(lease_seconds),
            "NOTIFIER_WEBHOOK_TIMEOUT_SECONDS": str(min(10, lease_seconds / 2)),
            **_short_kafka_session("NOTIFIER"),
        }
        return self._start_process("notifier", "worker", env, name=name)

    def sla_tracker(
        self, port: int, ticket_api_port: int, *, scan_ahead_of_now: bool = False
    ) -> ServiceProcess:
        env = {
            "SLA_TRACKER_PORT": str(port),
            **_ticket_api_at(ticket_api_port),
            # POST /v1/scan may fire what falls due later: tests skip the wait for a target.
            "SLA_TRACKER_UNSAFE_SCAN_AHEAD_OF_NOW": str(scan_ahead_of_now).lower(),
        }
        return self._start_process("sla-tracker", "serve", env, ready_port=port)

    def sla_worker(self, ticket_api_port: int) -> ServiceProcess:
        env = _ticket_api_at(ticket_api_port)
        return self._start_process("sla-tracker", "worker", env, name="sla-worker")

    def sla_scanner(self, ticket_api_port: int, name: str = "sla-scanner") -> ServiceProcess:
        env = _ticket_api_at(ticket_api_port)
        return self._start_process("sla-tracker", "scanner", env, name=name)

    def scheduler(
        self, port: int, ticket_api_port: int, sla_tracker_port: int | None = None
    ) -> ServiceProcess:
        env = {"SCHEDULER_PORT": str(port), **_ticket_api_at(ticket_api_port)}
        if sla_tracker_port is not None:
            env["SCHEDULER_SLA_TRACKER_URL"] = f"http://127.0.0.1:{sla_tracker_port}"
        return self._start_process("scheduler", "serve", env, ready_port=port)

    def scheduler_ticker(
        self, ticket_api_url: str, name: str = "scheduler-ticker", **settings: str
    ) -> ServiceProcess:
        """A ticker; ``settings`` are SCHEDULER_* values (tick_seconds="3600": one tick at
        start, then none for an hour)."""
        env = {"HELPDESK_TICKET_API_URL": ticket_api_url}
        env.update({f"SCHEDULER_{key.upper()}": value for key, value in settings.items()})
        return self._start_process("scheduler", "ticker", env, name=name)

    def _start_process(
        self,
        service: str,
        command: str,
        env: dict[str, str],
        *,
        name: str | None = None,
        ready_port: int | None = None,
    ) -> ServiceProcess:
        """Registers ``helpdesk-<service> <command>`` with the suite's environment plus
        ``env``, logging to ``<name>.log``; a server (``ready_port``) is waited on at
        /readyz when started."""
        name = name or service
        process = ServiceProcess(
            name,
            [str(BIN / f"helpdesk-{service}"), command],
            self.base_env() | env,
            self.log_dir / f"{name}.log",
            ready_url=None if ready_port is None else f"http://127.0.0.1:{ready_port}/readyz",
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _ticket_api_at(port: int) -> dict[str, str]:
    return {"HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{port}"}


def _short_kafka_session(env_prefix: str) -> dict[str, str]:
    # The local broker notices a departed group member only when its session ends.
    return {
        f"{env_prefix}_KAFKA_SESSION_TIMEOUT_MS": "3000",
        f"{env_prefix}_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
    }
