"""The load generator, run in its own process: ``python -m bench.loadgen '<json config>'``.

It prints one JSON object (the measurements) as the last line of its standard output.

- closed loop: `concurrency` workers each send the next request as soon as the previous
  one answered; gives the throughput at that concurrency and its latencies.
- open loop: requests are scheduled at a fixed arrival rate regardless of how fast the
  server answers, and latency is measured from the *scheduled* send time, so a server
  that stalls is charged for the requests that queued behind the stall (no coordinated
  omission).

Targets: ``http`` (aiohttp, one shared keep-alive session, pre-encoded bodies) against
ticket-api, or ``raw`` (asyncpg pool) running the same transaction directly on PostgreSQL.
The window measured follows a warm-up; CPU of the watched process trees (and of this
process) is taken exactly over that window.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench import cpu, workload

Send = Callable[[int], Awaitable[bool]]


@dataclass
class Config:
    target: str  # "http" | "raw"
    pattern: str  # "closed" | "open"
    duration: float
    warmup: float = 2.0
    concurrency: int = 32
    rate: float = 500.0
    url: str = ""
    # POST /v1/tickets (201) by default; GET /healthz (200) measures the HTTP stack alone.
    method: str = "POST"
    path: str = "/v1/tickets"
    expect_status: int = 201
    # False: a new connection per request (spreads load over uvicorn's workers, which a
    # fixed set of keep-alive connections does not: one worker accepts the whole burst).
    keepalive: bool = True
    api_key: str = ""
    dsn: str = ""
    topic: str = "helpdesk.tickets"
    seed: int = 1
    # Process trees whose CPU is measured over the window: name -> root pids.
    watch: dict[str, list[int]] = field(default_factory=dict)
    # A DSN (of the "postgres" database) for server statistics over the window: sessions
    # opened in `stats_db` (connection churn) and, if `reset_statements`,
    # pg_stat_statements_reset() when the window opens.
    stats_dsn: str = ""
    stats_db: str = ""
    reset_statements: bool = False
    # Give up on requests still outstanding this long after the window closed.
    drain_timeout: float = 90.0


@dataclass
class Sample:
    scheduled: float
    done: float
    ok: bool


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def summarize(latencies: list[float]) -> dict[str, float]:
    values = sorted(latencies)
    if not values:
        return {}
    return {
        "mean_ms": 1000 * sum(values) / len(values),
        "p50_ms": 1000 * percentile(values, 50),
        "p90_ms": 1000 * percentile(values, 90),
        "p99_ms": 1000 * percentile(values, 99),
        "p999_ms": 1000 * percentile(values, 99.9),
        "max_ms": 1000 * values[-1],
    }


class Window:
    """Opens and closes the measured window: CPU accounting and pg_stat_statements reset."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cpu = cpu.CpuWindow(config.watch)
        self.result: dict[str, float] = {}
        self.top_others: list[str] = []
        self.per_process: dict[str, list[float]] = {}
        self._stats: Any = None
        self._sessions_start = 0
        # Database sessions opened during the window (a pool that keeps reconnecting).
        self.new_sessions: int | None = None

    async def _sessions(self) -> int:
        value = await self._stats.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", self.config.stats_db
        )
        return int(value or 0)

    async def open(self) -> None:
        if self.config.stats_dsn:
            import asyncpg  # type: ignore[import-untyped, unused-ignore]

            self._stats = await asyncpg.connect(self.config.stats_dsn)
            if self.config.reset_statements:
                await self._stats.execute("SELECT pg_stat_statements_reset()")
            if self.config.stats_db:
                self._sessions_start = await self._sessions()
        self.cpu.start()

    async def between(self, start: float, end: float) -> None:
        """Open at ``start`` and close at ``end``, on the perf-counter clock."""
        await _at(start)
        await self.open()
        await _at(end)
        await self.close()

    async def close(self) -> None:
        self.result = self.cpu.stop()
        # This process (CpuWindow's "load_generator"), under the name the report uses.
        self.result["loadgen"] = self.result.pop("load_generator")
        self.top_others = self.cpu.top_others
        self.per_process = self.cpu.per_process
        if self._stats is not None:
            if self.config.stats_db:
                self.new_sessions = await self._sessions() - self._sessions_start
            await self._stats.close()


# uvloop's loop.time() ticks in whole milliseconds: latencies use the perf counter.
clock = time.perf_counter


async def _at(when: float) -> None:
    """Sleep until `when` on the perf-counter clock."""
    delay = when - clock()
    if delay > 0:
        await asyncio.sleep(delay)


def _count_error(errors: dict[str, int], exc: Exception) -> None:
    key = f"{type(exc).__name__}: {str(exc)[:200]}"
    if key not in errors and len(errors) >= 20:
        key = "other errors"
    errors[key] = errors.get(key, 0) + 1


async def _send_sampled(
    send: Send, i: int, scheduled: float, samples: list[Sample], errors: dict[str, int]
) -> None:
    """Send request ``i`` and record how long it took from ``scheduled``, and whether it
    succeeded; a failure is counted by its kind, never raised."""
    try:
        ok = await send(i)
    except Exception as exc:
        ok = False
        _count_error(errors, exc)
    samples.append(Sample(scheduled, clock(), ok))


async def closed_loop(config: Config, send: Send) -> dict[str, Any]:
    window = Window(config)
    start = clock()
    window_start = start + config.warmup
    window_end = window_start + config.duration
    samples: list[Sample] = []
    counter = iter(range(10**12))
    errors: dict[str, int] = {}

    async def worker() -> None:
        while True:
            sent = clock()
            if sent >= window_end:
                return
            await _send_sampled(send, next(counter), sent, samples, errors)

    await asyncio.gather(
        window.between(window_start, window_end), *(worker() for _ in range(config.concurrency))
    )
    measured = [s for s in samples if window_start <= s.done < window_end]
    ok = [s for s in measured if s.ok]
    return {
        "pattern": "closed",
        "concurrency": config.concurrency,
        "keepalive": config.keepalive,
        "duration_s": config.duration,
        "warmup_s": config.warmup,
        "completed_ok": len(ok),
        "failed": len(measured) - len(ok),
        "exceptions": errors,
        "throughput_per_s": len(ok) / config.duration,
        **summarize([s.done - s.scheduled for s in ok]),
        "total_ok_including_warmup": sum(1 for s in samples if s.ok),
        "cpu_s": window.result,
        "cpu_top_other_processes": window.top_others,
        "cpu_busiest_processes_s": window.per_process,
        "new_db_sessions": window.new_sessions,
    }


async def open_loop(config: Config, send: Send) -> dict[str, Any]:
    window = Window(config)
    start = clock() + 0.05
    window_start = start + config.warmup
    window_end = window_start + config.duration
    total = int((config.warmup + config.duration) * config.rate)
    samples: list[Sample] = []
    errors: dict[str, int] = {}
    max_send_lag = 0.0
    tasks: set[asyncio.Task[None]] = set()

    windows = asyncio.create_task(window.between(window_start, window_end))
    for i in range(total):
        scheduled = start + i / config.rate
        await _at(scheduled)
        max_send_lag = max(max_send_lag, clock() - scheduled)
        task = asyncio.create_task(_send_sampled(send, i, scheduled, samples, errors))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await windows
    outstanding = len(tasks)
    unfinished = 0
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=config.drain_timeout)
        for task in pending:
            task.cancel()
        unfinished = len(pending)
    measured = [s for s in samples if window_start <= s.scheduled < window_end]
    ok = [s for s in measured if s.ok]
    scheduled_in_window = sum(
        1 for i in range(total) if window_start <= start + i / config.rate < window_end
    )
    done_in_window = sum(1 for s in samples if s.ok and window_start <= s.done < window_end)
    return {
        "pattern": "open",
        "target_rate_per_s": config.rate,
        "duration_s": config.duration,
        "warmup_s": config.warmup,
        "scheduled": scheduled_in_window,
        "completed_ok": len(ok),
        "failed": scheduled_in_window - len(ok),
        "exceptions": errors,
        # Successful completions inside the window per second (whatever their schedule).
        "achieved_rate_per_s": done_in_window / config.duration,
        "outstanding_at_window_end": outstanding,
        "unfinished_after_drain": unfinished,
        "max_send_lag_ms": 1000 * max_send_lag,
        **summarize([s.done - s.scheduled for s in ok]),
        "total_ok_including_warmup": sum(1 for s in samples if s.ok),
        "cpu_s": window.result,
        "cpu_top_other_processes": window.top_others,
        "cpu_busiest_processes_s": window.per_process,
        "new_db_sessions": window.new_sessions,
    }


async def run(config: Config) -> dict[str, Any]:
    bodies = [orjson.dumps(b) for b in workload.request_bodies(4096, config.seed)]
    if config.target == "http":
        import aiohttp

        limit = config.concurrency if config.pattern == "closed" else 1024
        connector = (
            aiohttp.TCPConnector(limit=limit, keepalive_timeout=120)
            if config.keepalive
            else aiohttp.TCPConnector(limit=limit, force_close=True)
        )
        timeout = aiohttp.ClientTimeout(total=60)
        headers = {
            "Authorization": f"Bearer {config.api_key}",
            "Content-Type": "application/json",
        }
        url = config.url.rstrip("/") + config.path
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=headers
        ) as session:

            async def send(i: int) -> bool:
                body = bodies[i % len(bodies)] if config.method == "POST" else None
                async with session.request(config.method, url, data=body) as response:
                    await response.read()
                    return response.status == config.expect_status

            return await _pattern(config, send)
    import asyncpg

    requests = [orjson.loads(b) for b in bodies]
    # A plain queue of connections: asyncpg's Pool resets every connection on release
    # (RESET ALL, UNLISTEN, ...: four more round trips), which SQLAlchemy's pool does not.
    connections = [await asyncpg.connect(config.dsn) for _ in range(config.concurrency)]
    idle: asyncio.Queue[Any] = asyncio.Queue()
    for conn in connections:
        idle.put_nowait(conn)
    try:

        async def send_raw(i: int) -> bool:
            conn = await idle.get()
            try:
                await workload.create_ticket_raw(conn, requests[i % len(requests)], config.topic)
            finally:
                idle.put_nowait(conn)
            return True

        return await _pattern(config, send_raw)
    finally:
        for conn in connections:
            await conn.close()


async def _pattern(config: Config, send: Send) -> dict[str, Any]:
    if config.pattern == "closed":
        return await closed_loop(config, send)
    return await open_loop(config, send)


def main(argv: list[str]) -> None:
    import uvloop

    config = Config(**orjson.loads(argv[0]))
    started = time.monotonic()
    result = uvloop.run(run(config))
    result["target"] = config.target
    result["wall_s"] = time.monotonic() - started
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
