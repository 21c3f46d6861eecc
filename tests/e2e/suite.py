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
        env = self.base_env() | {"TICKET_API_PORT": str(port), "TICKET_API_WORKERS": str(workers)}
        return self._add(
            ServiceProcess(
                "ticket-api",
                [str(BIN / "helpdesk-ticket-api"), "serve"],
                env,
                self.log_dir / "ticket-api.log",
                ready_url=f"http://127.0.0.1:{port}/readyz",
            )
        )

    def relay(self, name: str = "relay") -> ServiceProcess:
        return self._add(
            ServiceProcess(
                name,
                [str(BIN / "helpdesk-ticket-api"), "relay"],
                self.base_env(),
                self.log_dir / f"{name}.log",
            )
        )

    def rule_engine(self, port: int, ticket_api_port: int, workers: int = 1) -> ServiceProcess:
        env = self.base_env() | {
            "RULE_ENGINE_PORT": str(port),
            "RULE_ENGINE_WORKERS": str(workers),
            "HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}",
        }
        return self._add(
            ServiceProcess(
                "rule-engine",
                [str(BIN / "helpdesk-rule-engine"), "serve"],
                env,
                self.log_dir / "rule-engine.log",
                ready_url=f"http://127.0.0.1:{port}/readyz",
            )
        )

    def rule_worker(self, ticket_api_port: int, name: str = "rule-worker") -> ServiceProcess:
        env = self.base_env() | {
            "HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}",
            # The local broker notices a departed group member only when its session ends.
            "RULE_ENGINE_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "RULE_ENGINE_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        }
        return self._add(
            ServiceProcess(
                name,
                [str(BIN / "helpdesk-rule-engine"), "worker"],
                env,
                self.log_dir / f"{name}.log",
            )
        )

    def router(self, port: int, ticket_api_port: int) -> ServiceProcess:
        env = self.base_env() | {
            "ROUTER_PORT": str(port),
            "HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}",
        }
        return self._add(
            ServiceProcess(
                "router",
                [str(BIN / "helpdesk-router"), "serve"],
                env,
                self.log_dir / "router.log",
                ready_url=f"http://127.0.0.1:{port}/readyz",
            )
        )

    def router_worker(self, ticket_api_port: int, name: str = "router-worker") -> ServiceProcess:
        env = self.base_env() | {
            "HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}",
            # The local broker notices a departed group member only when its session ends.
            "ROUTER_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "ROUTER_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        }
        return self._add(
            ServiceProcess(
                name,
                [str(BIN / "helpdesk-router"), "worker"],
                env,
                self.log_dir / f"{name}.log",
            )
        )

    def notifier(self, port: int, ticket_api_port: int) -> ServiceProcess:
        env = self.base_env() | {
            "NOTIFIER_PORT": str(port),
            "HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}",
            "NOTIFIER_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        return self._add(
            ServiceProcess(
                "notifier",
                [str(BIN / "helpdesk-notifier"), "serve"],
                env,
                self.log_dir / "notifier.log",
                ready_url=f"http://127.0.0.1:{port}/readyz",
            )
        )

    def notifier_worker(
        self, *, lease_seconds: float = 60, name: str = "notifier-worker"
    ) -> ServiceProcess:
        env = self.base_env() | {
            # Receivers of the tests listen on loopback.
            "NOTIFIER_ALLOWED_NETWORKS": "127.0.0.0/8",
            "NOTIFIER_DELIVERY_LEASE_SECONDS": str(lease_seconds),
            "NOTIFIER_WEBHOOK_TIMEOUT_SECONDS": str(min(10, lease_seconds / 2)),
            "NOTIFIER_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "NOTIFIER_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        }
        return self._add(
            ServiceProcess(
                name,
                [str(BIN / "helpdesk-notifier"), "worker"],
                env,
                self.log_dir / f"{name}.log",
            )
        )

    def sla_tracker(
        self, port: int, ticket_api_port: int, *, scan_ahead_of_now: bool = False
    ) -> ServiceProcess:
        env = self.base_env() | {
            "SLA_TRACKER_PORT": str(port),
            "HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}",
            # POST /v1/scan may fire what falls due later: tests skip the wait for a target.
            "SLA_TRACKER_UNSAFE_SCAN_AHEAD_OF_NOW": str(scan_ahead_of_now).lower(),
        }
        return self._add(
            ServiceProcess(
                "sla-tracker",
                [str(BIN / "helpdesk-sla-tracker"), "serve"],
                env,
                self.log_dir / "sla-tracker.log",
                ready_url=f"http://127.0.0.1:{port}/readyz",
            )
        )

    def sla_worker(self, ticket_api_port: int) -> ServiceProcess:
        env = self.base_env() | {"HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}"}
        return self._add(
            ServiceProcess(
                "sla-worker",
                [str(BIN / "helpdesk-sla-tracker"), "worker"],
                env,
                self.log_dir / "sla-worker.log",
            )
        )

    def sla_scanner(self, ticket_api_port: int, name: str = "sla-scanner") -> ServiceProcess:
        env = self.base_env() | {"HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}"}
        return self._add(
            ServiceProcess(
                name,
                [str(BIN / "helpdesk-sla-tracker"), "scanner"],
                env,
                self.log_dir / f"{name}.log",
            )
        )

    def scheduler(
        self, port: int, ticket_api_port: int, sla_tracker_port: int | None = None
    ) -> ServiceProcess:
        env = self.base_env() | {
            "SCHEDULER_PORT": str(port),
            "HELPDESK_TICKET_API_URL": f"http://127.0.0.1:{ticket_api_port}",
        }
        if sla_tracker_port is not None:
            env["SCHEDULER_SLA_TRACKER_URL"] = f"http://127.0.0.1:{sla_tracker_port}"
        return self._add(
            ServiceProcess(
                "scheduler",
                [str(BIN / "helpdesk-scheduler"), "serve"],
                env,
                self.log_dir / "scheduler.log",
                ready_url=f"http://127.0.0.1:{port}/readyz",
            )
        )

    def scheduler_ticker(
        self, ticket_api_url: str, name: str = "scheduler-ticker", **settings: str
    ) -> ServiceProcess:
        """A ticker; ``settings`` are SCHEDULER_* values (tick_seconds="3600": one tick at
        start, then none for an hour)."""
        env = self.base_env() | {"HELPDESK_TICKET_API_URL": ticket_api_url}
        env.update({f"SCHEDULER_{key.upper()}": value for key, value in settings.items()})
        return self._add(
            ServiceProcess(
                name,
                [str(BIN / "helpdesk-scheduler"), "ticker"],
                env,
                self.log_dir / f"{name}.log",
            )
        )

    def _add(self, process: ServiceProcess) -> ServiceProcess:
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
