"""A PostgreSQL cluster in a data folder, run with the system's server binaries."""

import functools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from helpdesk_devstack._aio import run_sync
from helpdesk_devstack.errors import DevstackError

# Written next to postgresql.conf and rewritten on every start, so port and durability
# settings follow the current LocalPostgres arguments rather than the first run's.
_SETTINGS_FILE = "helpdesk_devstack.conf"
_SOCKET_DIR = "sockets"
_FALLBACK_OS_USER = "helpdesk"


class PostgresError(DevstackError):
    """The local PostgreSQL server could not be initialised, started or stopped."""


def find_pg_bin() -> Path:
    """The directory holding initdb and pg_ctl: $HELPDESK_PG_BIN, Debian's layout, or PATH."""
    explicit = os.environ.get("HELPDESK_PG_BIN")
    if explicit:
        return Path(explicit)
    debian = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")]
    if debian:
        return max(debian, key=lambda bin_dir: _version_key(bin_dir.parent.name))
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise PostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL "
        "or set HELPDESK_PG_BIN to the directory that holds them"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _server_account() -> pwd.struct_passwd | None:
    """The OS account the server runs as: None means the current one.

    PostgreSQL refuses to run as root, so as root we use the distribution's `postgres`
    user or create an unprivileged system user for it.
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _FALLBACK_OS_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    # /usr/sbin is often missing from PATH in CI and under sudo.
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    if useradd is None:
        raise PostgresError(
            "running as root, PostgreSQL needs an unprivileged user: create "
            f"{_FALLBACK_OS_USER!r} (useradd was not found)"
        )
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell",
         "/usr/sbin/nologin", _FALLBACK_OS_USER],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return pwd.getpwnam(_FALLBACK_OS_USER)
    except KeyError:
        raise PostgresError(
            f"cannot create the system user {_FALLBACK_OS_USER!r} to run PostgreSQL as: "
            f"{result.stderr.strip()}"
        ) from None


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class LocalPostgres:
    """One PostgreSQL cluster whose data lives in `data_dir`, listening on 127.0.0.1:`port`.

    `start()` creates the cluster on first use and keeps its data on later starts.
    `fast=True` trades crash safety for speed (fsync, synchronous_commit and
    full_page_writes off): right for throwaway test clusters, wrong for data you keep.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        user: str = "helpdesk",
        # The documented development credential of a loopback-only server.
        password: str = "helpdesk",  # noqa: S107
        database: str = "helpdesk",
        *,
        fast: bool = False,
        log_path: Path | None = None,
        extra_settings: dict[str, str] | None = None,
    ) -> None:
        """``extra_settings``: more postgresql.conf lines, values as written there (e.g.
        ``{"shared_preload_libraries": "'pg_stat_statements'"}``)."""
        self.data_dir = data_dir.resolve()
        self.extra_settings = dict(extra_settings or {})
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.fast = fast
        self.log_path = (log_path or self.data_dir / "postgres.log").resolve()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's main database."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """SQLAlchemy (asyncpg driver) URL of another database in this cluster."""
        return self.dsn_for(database).replace("postgresql://", "postgresql+asyncpg://", 1)

    def dsn_for(self, database: str) -> str:
        """libpq-style URL, as asyncpg.connect() and psql take it."""
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{quote(database, safe='')}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (initialising the cluster on first use) and wait until it is ready."""
        if self.is_running():
            if self._running_port() == self.port:
                # Left behind by a run that was killed: same data, same port, so reuse it.
                run_sync(self._ensure_database())
                return
            self.stop()
        self._prepare_data_dir()
        self._write_settings()
        self._clear_stale_locks(timeout)
        self._own(self.log_path, touch=True)
        result = self._pg_ctl(
            "start", "-w", "-t", str(int(timeout)), "-l", str(self.log_path), "-s"
        )
        if result.returncode != 0:
            raise PostgresError(
                f"PostgreSQL did not start on port {self.port}: {result.stdout.strip()}\n"
                f"{self._log_tail()}"
            )
        run_sync(self._ensure_database())

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server if it runs: fast mode rolls back open transactions and disconnects."""
        if not self.is_running():
            return
        result = self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(timeout)), "-s")
        if result.returncode != 0:
            raise PostgresError(f"PostgreSQL did not stop: {result.stdout.strip()}")

    def is_running(self) -> bool:
        """Whether a postmaster serves this data directory right now."""
        pid = self._postmaster_pid()
        if pid is None:
            return False
        if Path("/proc").is_dir():
            # PIDs get reused; the postmaster's working directory is its data directory.
            try:
                return os.readlink(f"/proc/{pid}/cwd") == str(self.data_dir)
            except OSError:
                return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # alive, and owned by the server's user
        return True

    async def create_database(self, name: str, template: str | None = None) -> None:
        """Create a database; a template must have no open connections while it is copied."""
        sql = f"CREATE DATABASE {_quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {_quote_ident(template)}"
        await self._maintenance(sql)

    async def drop_database(self, name: str) -> None:
        """Drop a database if it exists, disconnecting anyone still using it."""
        await self._maintenance(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    async def _maintenance(self, sql: str) -> None:
        conn = await asyncpg.connect(self.dsn_for("postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def _ensure_database(self) -> None:
        conn = await asyncpg.connect(self.dsn_for("postgres"))
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            )
            if not exists:
                await conn.execute(f"CREATE DATABASE {_quote_ident(self.database)}")
        finally:
            await conn.close()

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._own(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        socket_dir = self.data_dir / _SOCKET_DIR
        socket_dir.mkdir(exist_ok=True)
        self._own(socket_dir)

    def _initdb(self) -> None:
        with tempfile.NamedTemporaryFile("w", prefix="helpdesk-pgpw-", delete=False) as pwfile:
            pwfile.write(self.password + "\n")
        try:
            self._own(Path(pwfile.name))
            args = [
                str(find_pg_bin() / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                f"--pwfile={pwfile.name}", "--auth=scram-sha-256", "--encoding=UTF8",
                "--no-locale",
            ]  # fmt: skip
            if self.fast:
                args.append("--no-sync")
            result = self._run_as_server_user(args)
        finally:
            os.unlink(pwfile.name)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed in {self.data_dir}:\n{result.stdout.strip()}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists '{_SETTINGS_FILE}'\n")

    def _clear_stale_locks(self, timeout: float) -> None:
        """Remove the lock files of a server that died without cleaning up.

        PostgreSQL treats a lock file as live while its PID exists, and after a crash or a
        reboot that PID may belong to an unrelated process (or to an unreaped zombie in a
        container), so it would refuse to start. The locks may only go once no process of
        the old server still works in the data directory.
        """
        deadline = time.monotonic() + timeout
        while leftovers := self._processes_in_data_dir():
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"processes {leftovers} of an earlier server still use {self.data_dir}"
                )
            time.sleep(0.1)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        for lock in (self.data_dir / _SOCKET_DIR).glob(".s.PGSQL.*.lock"):
            lock.unlink()

    def _processes_in_data_dir(self) -> list[int]:
        # Every server process (postmaster and backends) is named postgres and runs with
        # the data directory as its working directory.
        pids = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if (
                    os.readlink(proc / "cwd") == str(self.data_dir)
                    and (proc / "comm").read_text().strip() == "postgres"
                ):
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    def _write_settings(self) -> None:
        durability = "off" if self.fast else "on"
        socket_dir = str(self.data_dir / _SOCKET_DIR).replace("'", "''")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{socket_dir}'",
            "max_connections": "200",
            # Sized for a 2-core laptop or CI runner that also runs six services.
            "shared_buffers": "'128MB'",
            "work_mem": "'4MB'",
            "maintenance_work_mem": "'64MB'",
            "effective_cache_size": "'512MB'",
            "max_wal_size": "'1GB'",
            "max_parallel_workers_per_gather": "1",
            # Same session time zone on every machine, so timestamps in logs and psql agree.
            "timezone": "'UTC'",
            "fsync": durability,
            "synchronous_commit": durability,
            "full_page_writes": durability,
        }
        settings.update(self.extra_settings)
        path = self.data_dir / _SETTINGS_FILE
        path.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        self._own(path)

    def _pg_ctl(self, action: str, *options: str) -> subprocess.CompletedProcess[str]:
        return self._run_as_server_user(
            [str(find_pg_bin() / "pg_ctl"), action, "-D", str(self.data_dir), *options]
        )

    def _run_as_server_user(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        account = self._account
        return subprocess.run(
            args,
            # The server user may not be allowed into the caller's working directory.
            cwd=self.data_dir,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )

    @functools.cached_property
    def _account(self) -> pwd.struct_passwd | None:
        return _server_account()

    def _own(self, path: Path, *, touch: bool = False) -> None:
        if touch:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        account = self._account
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)

    def _postmaster_pid(self) -> int | None:
        lines = self._pidfile_lines()
        return int(lines[0]) if lines and lines[0].isdigit() else None

    def _running_port(self) -> int | None:
        # Line 4 of postmaster.pid is the port (see PostgreSQL's pidfile.h).
        lines = self._pidfile_lines()
        return int(lines[3]) if len(lines) > 3 and lines[3].isdigit() else None

    def _pidfile_lines(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return []

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"(no server log at {self.log_path})"
        return f"last lines of {self.log_path}:\n" + "\n".join(tail)
