"""`helpdesk-devstack`: the whole suite on one machine (`make run`) and its chores.

Local state lives in `.local/` at the repository root: PostgreSQL's data in `.local/pg`
(kept between runs) and the servers' logs in `.local/logs`. DATABASE_URL and
KAFKA_BOOTSTRAP_SERVERS point the stack at existing servers instead of local ones.
"""

import argparse
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from aiokafka.errors import KafkaError

from helpdesk_devstack._aio import run_sync
from helpdesk_devstack.broker import LocalBroker, ensure_topics
from helpdesk_devstack.errors import DevstackError
from helpdesk_devstack.ports import port_is_free
from helpdesk_devstack.postgres import LocalPostgres
from helpdesk_devstack.stack import (
    TOPICS,
    migration_commands,
    pending_services,
    service_endpoints,
)

DEFAULT_PG_PORT = 55432
DEFAULT_KAFKA_PORT = 59092
DEFAULT_TOPIC_PARTITIONS = 6
DEFAULT_ADMIN_KEY = "dev-admin-key"
DEFAULT_SERVICE_KEY = "dev-service-key"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _StopRequested(Exception):
    """Ctrl-C, SIGTERM or SIGHUP arrived; unwinding runs the cleanups."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="helpdesk-devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="start PostgreSQL, the broker, migrations and every service (make run)"
    )
    up.add_argument(
        "--procfile", type=Path, help="Procfile to run (default: the repository's Procfile)"
    )
    commands.add_parser(
        "migrate", help="run every service's migrations against DATABASE_URL or the local cluster"
    )
    commands.add_parser(
        "clean-data", help="stop what an interrupted run left behind and delete .local/"
    )
    args = parser.parse_args(argv)
    root = find_repo_root()
    try:
        if args.command == "up":
            return _up(root, args.procfile or root / "Procfile")
        if args.command == "migrate":
            return _migrate(root)
        return _clean_data(root)
    except DevstackError as exc:
        print(f"helpdesk-devstack: {exc}", file=sys.stderr)
        return 1


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` (default: cwd) holding the uv workspace."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text():
            return candidate
    raise DevstackError(f"no uv workspace (pyproject.toml with [tool.uv.workspace]) above {here}")


def _up(root: Path, procfile: Path) -> int:
    with _run_lock(root / ".local"), _stop_on_signals() as shield_cleanup, ExitStack() as cleanups:
        cleanups.callback(print, "local stack stopped", flush=True)
        try:
            database_url = os.environ.get("DATABASE_URL")
            if database_url is None:
                postgres = _local_postgres(root)
                _start_for_the_run(cleanups, "PostgreSQL", postgres)
                database_url = postgres.url
            bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            if bootstrap_servers is None:
                broker = _local_broker(root)
                _start_for_the_run(cleanups, "the broker", broker)
                bootstrap_servers = broker.bootstrap_servers
            partitions = _env_int("HELPDESK_TOPIC_PARTITIONS", DEFAULT_TOPIC_PARTITIONS)
            try:
                created = run_sync(ensure_topics(bootstrap_servers, TOPICS, partitions))
            except KafkaError as exc:
                raise DevstackError(f"cannot create topics on {bootstrap_servers}: {exc}") from exc
            print(f"topics: {len(created)} created, {len(TOPICS) - len(created)} already there")
            env = _service_env(database_url, bootstrap_servers)
            _run_migrations(root, procfile, env)
            print(_banner(database_url, bootstrap_servers, env, root, procfile), flush=True)
            honcho = subprocess.Popen(
                [sys.executable, "-m", "honcho", "start", "-f", str(procfile)], cwd=root, env=env
            )
            cleanups.callback(_announce, "stopping the services", lambda: _stop_honcho(honcho))
            return honcho.wait()
        except _StopRequested as stop:
            print(f"\n{stop} received: shutting down", flush=True)
            return 0
        finally:
            shield_cleanup()


def _migrate(root: Path) -> int:
    with ExitStack() as cleanups:
        database_url = os.environ.get("DATABASE_URL")
        if database_url is None:
            postgres = _local_postgres(root)
            if not postgres.is_running():
                cleanups.callback(postgres.stop)
            postgres.start()
            database_url = postgres.url
        bootstrap_servers = (
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _local_broker(root).bootstrap_servers
        )
        _run_migrations(root, root / "Procfile", _service_env(database_url, bootstrap_servers))
    return 0


def _clean_data(root: Path) -> int:
    local = root / ".local"
    if not local.exists():
        return 0
    with _run_lock(local):
        _local_postgres(root).stop()
        _local_broker(root).stop_leftover()
        shutil.rmtree(local)
    print(f"removed {local}")
    return 0


def _local_postgres(root: Path) -> LocalPostgres:
    return LocalPostgres(
        root / ".local" / "pg",
        _env_int("HELPDESK_PG_PORT", DEFAULT_PG_PORT),
        log_path=root / ".local" / "logs" / "postgres.log",
    )


class _PidFileBroker(LocalBroker):
    """The `make run` broker. It runs in its own session, so it outlives an `up` that was
    killed outright; its pid file lets the next run stop it and take the port back."""

    def __init__(self, port: int, log_path: Path, pid_file: Path) -> None:
        super().__init__(port, log_path)
        self.pid_file = pid_file

    def start(self, timeout: float = 30.0) -> None:
        self.stop_leftover()
        super().start(timeout)
        self.pid_file.write_text(f"{self.pid}\n")

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.pid_file.unlink(missing_ok=True)

    def stop_leftover(self) -> None:
        try:
            cmdline = Path(f"/proc/{int(self.pid_file.read_text())}/cmdline")
            # The pid may have been reused since; only kill a broker on our port.
            if f"tcp://127.0.0.1:{self.port}".encode() in cmdline.read_bytes():
                os.kill(int(cmdline.parent.name), signal.SIGKILL)
                deadline = time.monotonic() + 5
                while not port_is_free(self.port) and time.monotonic() < deadline:
                    time.sleep(0.05)
        except (OSError, ValueError):
            pass
        self.pid_file.unlink(missing_ok=True)


def _local_broker(root: Path) -> _PidFileBroker:
    local = root / ".local"
    return _PidFileBroker(
        _env_int("HELPDESK_KAFKA_PORT", DEFAULT_KAFKA_PORT),
        local / "logs" / "broker.log",
        local / "broker.pid",
    )


def _service_env(database_url: str, bootstrap_servers: str) -> dict[str, str]:
    scripts = sysconfig.get_path("scripts")
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "HELPDESK_ADMIN_KEY": os.environ.get("HELPDESK_ADMIN_KEY", DEFAULT_ADMIN_KEY),
        "HELPDESK_SERVICE_KEY": os.environ.get("HELPDESK_SERVICE_KEY", DEFAULT_SERVICE_KEY),
        # The notifier's SSRF guard lets rules call receivers on this machine (local only).
        "NOTIFIER_ALLOWED_NETWORKS": os.environ.get("NOTIFIER_ALLOWED_NETWORKS", "127.0.0.0/8"),
        # `make run` does not activate the virtualenv, yet the Procfile names its scripts.
        "PATH": os.pathsep.join([scripts, os.environ.get("PATH", os.defpath)]),
        # Service logs must reach the shared log stream as they happen, not in blocks.
        "PYTHONUNBUFFERED": "1",
    }


def _run_migrations(root: Path, procfile: Path, env: Mapping[str, str]) -> None:
    for command in migration_commands(procfile):
        print(f"migrating: {' '.join(command)}", flush=True)
        try:
            result = subprocess.run(command, cwd=root, env=env, check=False)
        except FileNotFoundError:
            raise DevstackError(f"migration command {command[0]!r} not found") from None
        if result.returncode != 0:
            raise DevstackError(
                f"migration {' '.join(command)!r} failed with exit code {result.returncode}"
            )


def _stop_honcho(honcho: subprocess.Popen[bytes]) -> None:
    # honcho stops the services itself: SIGTERM first, SIGKILL after 5 seconds.
    if honcho.poll() is None:
        honcho.terminate()
    try:
        honcho.wait(timeout=20)
    except subprocess.TimeoutExpired:
        honcho.kill()
        honcho.wait()


@contextmanager
def _run_lock(local: Path) -> Iterator[None]:
    """Only one `up` (or `clean-data`) per data folder; the lock dies with its process."""
    local.mkdir(parents=True, exist_ok=True)
    with (local / "devstack.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DevstackError(
                f"another helpdesk-devstack (make run) is using {local}; stop it first"
            ) from None
        yield


@contextmanager
def _stop_on_signals() -> Iterator[Callable[[], None]]:
    """Turn the first Ctrl-C, SIGTERM or SIGHUP into _StopRequested.

    Yields a function that shields the cleanup: once called, signals no longer raise, so
    a second Ctrl-C cannot abort stopping the servers half-way.
    """
    shielded = False

    def shield() -> None:
        nonlocal shielded
        shielded = True

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if shielded:
            print("still shutting down, please wait", file=sys.stderr, flush=True)
            return
        shield()
        raise _StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, request_stop) for sig in _STOP_SIGNALS}
    try:
        yield shield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _LocalServer(Protocol):
    port: int

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _start_for_the_run(cleanups: ExitStack, name: str, server: _LocalServer) -> None:
    """Start ``server`` (announced by ``name``) and have ``cleanups`` stop it at the end."""
    cleanups.callback(_announce, f"stopping {name}", server.stop)
    _announce(f"starting {name} on port {server.port}", server.start)


def _announce(message: str, action: Callable[[], object]) -> None:
    print(f"{message} ...", flush=True)
    action()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise DevstackError(f"{name}={raw!r} is not a whole number") from None


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _banner(
    database_url: str, bootstrap_servers: str, env: Mapping[str, str], root: Path, procfile: Path
) -> str:
    logs = root / ".local" / "logs"
    if "DATABASE_URL" in os.environ:
        database = f"{_redact(database_url)}  (from DATABASE_URL)"
    else:
        kept = f"data kept in {root / '.local' / 'pg'} (make clean-data wipes it)"
        database = f"{database_url}\n{'':15}{kept}"
    if "KAFKA_BOOTSTRAP_SERVERS" in os.environ:
        broker = f"{bootstrap_servers}  (from KAFKA_BOOTSTRAP_SERVERS)"
    else:
        broker = f"{bootstrap_servers}  (memory only: topics and messages are gone after a stop)"
    lines = [
        "helpdesk automation: local stack",
        f"  PostgreSQL   {database}",
        f"  Kafka        {broker}",
    ]
    for endpoint in service_endpoints(procfile):
        if endpoint.url is None:
            lines.append(f"  {endpoint.name:<12} (port unknown: its package is not installed)")
            continue
        docs = f"   docs {endpoint.url}{endpoint.docs_path}" if endpoint.docs_path else ""
        lines.append(f"  {endpoint.name:<12} {endpoint.url}{docs}")
    pending = pending_services(procfile)
    if pending:
        lines.append(f"  {'':<12} (not built yet: {', '.join(pending)})")
    lines += [
        f"  Admin key    {env['HELPDESK_ADMIN_KEY']}   (Authorization: Bearer <key>)",
        f"  Service key  {env['HELPDESK_SERVICE_KEY']}",
        f"  Logs         services below; local PostgreSQL and broker in {logs}",
        "  Stop         Ctrl-C (stops the services, then the local broker and PostgreSQL)",
    ]
    rule = "=" * 78
    return "\n".join([rule, *lines, rule])
