"""``helpdesk-<service> serve``: uvicorn, in process or as N workers balanced by the kernel.

One worker runs uvicorn in this process (uvloop, httptools). Several workers are separate
processes under a small supervisor (this process), and each worker opens its *own*
listening socket with ``SO_REUSEPORT`` on the same host and port, so the kernel spreads
new connections over the workers by a hash of their addresses. (uvicorn's own
``workers=N`` shares one listening socket; whichever worker is awake accepts a whole burst
of connections, so a client with a fixed pool of keep-alive connections can land entirely
on one worker.)

The supervisor starts the workers as ``python -m helpdesk_service.serve`` with their
settings in ``HELPDESK_SERVE_WORKER``; every worker runs the app factory and its lifespan
(database pools …) itself. SIGINT/SIGTERM to the supervisor stop the workers gracefully
(SIGTERM to each, SIGKILL after ``stop_timeout``; a second signal makes them quit at once)
and it exits 0. A worker that dies is restarted, after a growing pause if it keeps dying
soon after its start. If a worker dies ``max_start_failures`` times in a row before it
served, the supervisor stops the others and exits 1. A worker notices a vanished
supervisor within a second and stops too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn

from .logs import configure_logging

log = logging.getLogger("helpdesk_service.serve")

WORKER_ENV = "HELPDESK_SERVE_WORKER"
# uvicorn's exit code when the app could not start.
STARTUP_FAILURE = 3


def serve(
    app: str,
    host: str,
    port: int,
    workers: int = 1,
    *,
    log_level: str | None = None,
    access_log: bool | None = None,
    stop_timeout: float = 30.0,
    max_start_failures: int = 5,
) -> None:
    """Serve the ASGI app factory ``app`` (``"package.module:create_app"``) on host:port.

    ``log_level`` defaults to ``LOG_LEVEL`` (info) and ``access_log`` to ``ACCESS_LOG=1``.
    With several workers this returns once they have all stopped, and raises
    ``SystemExit(1)`` if they could not start or had to be killed.
    """
    level = (log_level or os.environ.get("LOG_LEVEL", "info")).lower()
    access = os.environ.get("ACCESS_LOG", "0") == "1" if access_log is None else access_log
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        uvicorn.run(
            app,
            factory=True,
            host=host,
            port=port,
            log_level=level,
            access_log=access,
            loop="uvloop",
            http="httptools",
        )
        return
    if port == 0:
        raise ValueError(
            f"port 0 (any free port) cannot be used with {workers} workers: every worker "
            "listens on the port itself, so each would get a different one; set a port"
        )
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError(f"{workers} workers need SO_REUSEPORT, which this platform lacks")
    spec = {
        "app": app,
        "host": host,
        "port": port,
        "log_level": level,
        "access_log": access,
        "parent_pid": os.getpid(),
        "sys_path": sys.path,
    }
    supervisor = Supervisor(
        spec, workers, stop_timeout=stop_timeout, max_start_failures=max_start_failures
    )
    code = supervisor.run()
    if code:
        raise SystemExit(code)


def listen_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to host:port (SO_REUSEADDR, and SO_REUSEPORT if asked)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


# ---------------------------------------------------------------------------------------
# Supervisor


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    ready_fd: int | None = None  # read end of the pipe the worker writes one byte to when up
    ready: bool = False
    started_at: float = 0.0
    restart_at: float = 0.0
    quick_deaths: int = 0  # in a row, each within min_uptime of its start
    start_failures: int = 0  # in a row, each before the worker served


class Supervisor:
    """Keeps ``workers`` worker processes running until SIGINT/SIGTERM; see the module doc."""

    def __init__(
        self,
        spec: dict[str, Any],
        workers: int,
        *,
        stop_timeout: float = 30.0,
        max_start_failures: int = 5,
        min_uptime: float = 10.0,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        self.spec = spec
        self.slots = [_Slot(i + 1) for i in range(workers)]
        self.stop_timeout = stop_timeout
        self.max_start_failures = max_start_failures
        self.min_uptime = min_uptime
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._signals: list[int] = []
        self._where = f"http://{spec['host']}:{spec['port']}"

    def run(self) -> int:
        """Supervise until stopped; the exit code: 0 after a clean stop, else 1."""
        host, port = self.spec["host"], self.spec["port"]
        # Fail clearly if another server listens there already: with SO_REUSEPORT the
        # workers would otherwise join it (same user) and share its traffic.
        try:
            listen_socket(host, port, reuse_port=False).close()
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", host, port, exc)
            return 1
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        previous_wakeup = signal.set_wakeup_fd(wake_w)
        try:
            log.info("supervisor [%d]: %d workers on %s", os.getpid(), len(self.slots), self._where)
            failed = True
            try:
                failed = self._supervise(wake_r)
            finally:
                clean = self._stop_all()
            return 1 if failed or not clean else 0
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for slot in self.slots:
                self._close_ready(slot)
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD:
            self._signals.append(signum)

    def _supervise(self, wake_r: int) -> bool:
        """Run the workers until a stop signal (False) or until they keep failing (True)."""
        while not self._signals:
            now = time.monotonic()
            for slot in self.slots:
                if slot.process is None and slot.restart_at <= now:
                    self._start(slot)
            pending = [s.restart_at - now for s in self.slots if s.process is None]
            timeout = max(0.0, min([1.0, *pending]))
            fds = [wake_r] + [s.ready_fd for s in self.slots if s.ready_fd is not None]
            with contextlib.suppress(InterruptedError):
                select.select(fds, [], [], timeout)
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 512):
                    pass
            for slot in self.slots:
                self._read_ready(slot)
            if self._signals:
                break
            dead = [s for s in self.slots if s.process is not None and s.process.poll() is not None]
            if any(self._died(slot) for slot in dead):
                return True
        return False

    def _start(self, slot: _Slot) -> None:
        ready_r, ready_w = os.pipe()
        os.set_blocking(ready_r, False)
        spec = self.spec | {"index": slot.index, "ready_fd": ready_w}
        env = os.environ | {WORKER_ENV: json.dumps(spec)}
        try:
            slot.process = subprocess.Popen(
                [sys.executable, "-m", "helpdesk_service.serve", "worker", str(slot.index)],
                env=env,
                pass_fds=(ready_w,),
            )
        except OSError:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        slot.ready_fd = ready_r
        slot.ready = False
        slot.started_at = time.monotonic()
        log.info("worker %d started [%d]", slot.index, slot.process.pid)

    def _read_ready(self, slot: _Slot) -> None:
        if slot.ready_fd is None:
            return
        try:
            data = os.read(slot.ready_fd, 1)
        except BlockingIOError:
            return
        self._close_ready(slot)  # one byte, or end of file: the worker died before it served
        if data and slot.process is not None:
            slot.ready = True
            slot.start_failures = 0
            log.info("worker %d [%d] serving on %s", slot.index, slot.process.pid, self._where)

    def _close_ready(self, slot: _Slot) -> None:
        if slot.ready_fd is not None:
            os.close(slot.ready_fd)
            slot.ready_fd = None

    def _died(self, slot: _Slot) -> bool:
        """Schedule the restart of a dead worker; True if it keeps failing at start-up."""
        assert slot.process is not None
        self._read_ready(slot)
        self._close_ready(slot)
        pid, code = slot.process.pid, slot.process.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        now = time.monotonic()
        slot.process = None
        slot.quick_deaths = slot.quick_deaths + 1 if now - slot.started_at < self.min_uptime else 0
        delay = (
            min(self.max_backoff, self.backoff * 2 ** (slot.quick_deaths - 1))
            if slot.quick_deaths
            else 0.0
        )
        slot.restart_at = now + delay
        if not slot.ready:
            slot.start_failures += 1
            log.error(
                "worker %d [%d] died before it served (%s), %d of %d times in a row",
                slot.index,
                pid,
                how,
                slot.start_failures,
                self.max_start_failures,
            )
            if slot.start_failures >= self.max_start_failures:
                log.error("workers keep failing at start-up; stopping")
                return True
        else:
            log.error("worker %d [%d] died (%s)", slot.index, pid, how)
        log.info("restarting worker %d in %.1f s", slot.index, delay)
        return False

    def _stop_all(self) -> bool:
        """SIGTERM every worker and wait; True if all stopped before ``stop_timeout``."""
        running = [s.process for s in self.slots if s.process is not None]
        if self._signals:
            name = signal.Signals(self._signals[0]).name
            log.info("supervisor: %s, stopping %d workers", name, len(running))
        seen = len(self._signals)
        for process in running:
            _send(process, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        clean = True
        while any(p.poll() is None for p in running):
            if time.monotonic() > deadline:
                log.error("workers still running after %.0f s; killing them", self.stop_timeout)
                for process in running:
                    _send(process, signal.SIGKILL)
                clean = False
                break
            if len(self._signals) > seen:  # asked again: uvicorn quits at once on SIGINT
                seen = len(self._signals)
                for process in running:
                    _send(process, signal.SIGINT)
            time.sleep(0.05)
        for process in running:
            process.wait()
        for slot in self.slots:
            slot.process = None
        return clean


def _send(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)


# ---------------------------------------------------------------------------------------
# Worker


class _Server(uvicorn.Server):
    """A uvicorn server that tells the supervisor (one byte on a pipe) once it is up."""

    def __init__(self, config: uvicorn.Config, ready_fd: int) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.ready_fd >= 0:
            os.write(self.ready_fd, b"1")
            os.close(self.ready_fd)
            self.ready_fd = -1


def _watch_parent(parent_pid: int) -> None:
    """Stop this worker (gracefully) if the supervisor disappears."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    log.warning("worker [%d]: supervisor [%d] is gone; stopping", os.getpid(), parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)


def run_worker(spec: dict[str, Any]) -> None:
    """One worker: listen with SO_REUSEPORT and run uvicorn until told to stop."""
    stopped: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stopped.append(signum))
    sys.path[:] = spec["sys_path"]
    try:
        sock = listen_socket(spec["host"], spec["port"], reuse_port=True)
    except OSError as exc:
        log.error(
            "worker %d: cannot listen on %s:%s: %s", spec["index"], spec["host"], spec["port"], exc
        )
        raise SystemExit(STARTUP_FAILURE) from exc
    config = uvicorn.Config(
        spec["app"],
        factory=True,
        log_level=spec["log_level"],
        access_log=spec["access_log"],
        loop="uvloop",
        http="httptools",
    )
    server = _Server(config, spec["ready_fd"])

    # uvicorn installs its own handlers while it serves and, once it has shut down, hands
    # the signal it got to these: they only make sure the worker then exits 0.
    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    if stopped:
        return
    threading.Thread(target=_watch_parent, args=(spec["parent_pid"],), daemon=True).start()
    server.run(sockets=[sock])


def main() -> None:
    spec_json = os.environ.pop(WORKER_ENV, None)
    if spec_json is None:
        raise SystemExit(
            f"python -m helpdesk_service.serve is started by serve(); {WORKER_ENV} unset"
        )
    configure_logging()
    run_worker(json.loads(spec_json))


if __name__ == "__main__":
    main()
