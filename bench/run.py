"""``make bench``: ticket-api benchmarks on this machine, written to bench/REPORT.md and
bench/results/latest.json.

Starts its own PostgreSQL (a fresh cluster in a temporary folder, normal durability: fsync
and synchronous_commit on) and broker on free ports, migrates a template database, and for
each phase clones a fresh database from it:

1. ticket-api with TICKET_API_WORKERS=1, then 2: warm-up, a closed loop at fixed
   concurrency, an open loop at a fixed arrival rate (latency from the scheduled send time),
   and optionally a py-spy profile of the API process.
2. The same ticket-creation transaction as raw asyncpg statements, closed and open loop.
3. The outbox relay draining N preloaded ``ticket.created`` events to Kafka.

Every process it starts is stopped at the end, also on error, Ctrl-C or SIGTERM.
``--quick`` runs each phase for a few seconds (a smoke test of the benchmark itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    # Run as a script (python bench/run.py): make `bench` importable as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import orjson
from helpdesk_devstack.broker import LocalBroker, ensure_topics
from helpdesk_devstack.ports import free_port
from helpdesk_devstack.postgres import LocalPostgres

from bench import machine, pyspy, relay, report, workload
from bench.cpu import CpuWindow
from bench.procs import BIN, ROOT, BenchError, Process, Processes, scratch_dir

RESULTS_DIR = ROOT / "bench" / "results"
# The ports of `make run` (helpdesk-devstack up): never used here.
RESERVED_PORTS = {55432, 59092, 8000}
TOPIC_PREFIX = "bench."
TEMPLATE_DB = "bench_template"
# CPUs used by processes not ours below which the machine counts as quiet (the counters
# behind the figure disagree by about 0.1 CPU, so lower would never be met).
QUIET_CPUS = 0.15


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase")
    parser.add_argument("--workers", default="1,2", help="TICKET_API_WORKERS values to run")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop concurrency")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop arrival rate /s")
    parser.add_argument("--duration", type=float, help="seconds measured per run (10)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each run (3)")
    parser.add_argument("--relay-events", type=int, help="outbox rows to drain (50000)")
    parser.add_argument(
        "--phases", default="api,raw,relay", help="comma-separated subset of api,raw,relay"
    )
    parser.add_argument("--py-spy", dest="py_spy", help="py-spy binary for the API profile")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument(
        "--no-pg-stat-statements",
        action="store_true",
        help="do not load pg_stat_statements (per-statement server times)",
    )
    parser.add_argument(
        "--retries", type=int, help="repeat a run disturbed by other processes (2; quick 0)"
    )
    parser.add_argument(
        "--quiet-wait", type=float, help="seconds to wait for a quiet machine (60; quick 5)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite the report from the existing results JSON",
    )
    parser.add_argument("--out", type=Path, help="results JSON (bench/results/latest.json)")
    parser.add_argument("--report", type=Path, help="Markdown report (bench/REPORT.md)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (3.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 3.0)
    args.relay_events = args.relay_events or (10_000 if quick else 50_000)
    args.retries = args.retries if args.retries is not None else (0 if quick else 2)
    args.quiet_wait = args.quiet_wait if args.quiet_wait is not None else (5.0 if quick else 60.0)
    # A smoke run must not overwrite the real figures.
    args.out = args.out or RESULTS_DIR / ("quick.json" if quick else "latest.json")
    args.report = args.report or (RESULTS_DIR / "quick.md" if quick else ROOT / "bench/REPORT.md")
    args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    args.phase_set = {p.strip() for p in args.phases.split(",") if p.strip()}
    return args


def bench_port() -> int:
    while True:
        port = free_port()
        if port not in RESERVED_PORTS:
            return port


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.procs = Processes(self.logs)
        self.pg = LocalPostgres(workdir / "pg", bench_port(), fast=False)
        self.broker = LocalBroker(bench_port(), self.logs / "broker.log")
        self.admin_key = "hd_bench_" + secrets.token_urlsafe(24)
        self.pg_stat_statements = not args.no_pg_stat_statements
        self.results: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "config": {
                "command": " ".join(["bench/run.py", *sys.argv[1:]]),
                "worker_counts": args.worker_counts,
                "concurrency": args.concurrency,
                "rate_per_s": args.rate,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "relay_events": args.relay_events,
                "postgres_fast": False,
                "pg_stat_statements": self.pg_stat_statements,
                "customers": workload.CUSTOMERS,
            },
            "api": {},
            "errors": [],
        }

    # -- infrastructure --------------------------------------------------------------------

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def start_infrastructure(self) -> None:
        self.log(f"PostgreSQL (fresh cluster, fsync on) on port {self.pg.port}")
        self.pg.start()
        if self.pg_stat_statements:
            asyncio.run(self._sql("postgres", self._enable_pg_stat_statements_sql()))
            self.pg.stop()
            self.pg.start()
            asyncio.run(
                self._sql("postgres", ["CREATE EXTENSION IF NOT EXISTS pg_stat_statements"])
            )
        self.log(f"broker on port {self.broker.port}")
        self.broker.start()
        self.log("migrating the template database")
        asyncio.run(self.pg.create_database(TEMPLATE_DB))
        result = subprocess.run(
            [str(BIN / "helpdesk-ticket-api"), "migrate"],
            env=self.service_env(TEMPLATE_DB),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"migration failed:\n{result.stdout}\n{result.stderr}")
        settings = asyncio.run(self._settings())
        self.results["postgres_settings"] = settings

    @staticmethod
    def _enable_pg_stat_statements_sql() -> list[str]:
        # track_utility (COMMIT among them) is on by default.
        return ["ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"]

    async def _sql(self, db: str, statements: list[str]) -> None:
        conn = await asyncpg.connect(self.pg.dsn_for(db))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def _settings(self) -> dict[str, str]:
        conn = await asyncpg.connect(self.pg.dsn_for("postgres"))
        try:
            rows = await conn.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                [
                    "fsync", "synchronous_commit", "full_page_writes", "wal_level",
                    "shared_buffers", "max_connections", "commit_delay", "wal_sync_method",
                    "shared_preload_libraries",
                ],
            )  # fmt: skip
            version = await conn.fetchval("SELECT version()")
        finally:
            await conn.close()
        settings = {
            r["name"]: f"{r['setting']}{' ' + r['unit'] if r['unit'] else ''}" for r in rows
        }
        settings["version"] = version
        return settings

    def postmaster_pid(self) -> int:
        return int((self.pg.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def fresh_database(self, name: str) -> str:
        asyncio.run(self.pg.drop_database(name))
        asyncio.run(self.pg.create_database(name, template=TEMPLATE_DB))
        return name

    def service_env(self, db: str, **extra: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TICKET_API_", "HELPDESK_"))
        }
        env.update(
            DATABASE_URL=self.pg.url_for(db),
            KAFKA_BOOTSTRAP_SERVERS=self.broker.bootstrap_servers,
            HELPDESK_ADMIN_KEY=self.admin_key,
            HELPDESK_TOPIC_PREFIX=TOPIC_PREFIX,
            LOG_LEVEL="WARNING",
        )
        env.update(extra)
        return env

    def our_roots(self, extra: list[int]) -> list[int]:
        return [self.postmaster_pid(), self.broker.pid or -1, *extra]

    def wait_quiet(self, roots: list[int]) -> float:
        """Wait until the machine's busy time not spent by our processes stays under
        QUIET_CPUS (other work on a shared machine distorts every figure); gives up after
        --quiet-wait seconds and returns the CPUs others used in the last second."""
        deadline = time.monotonic() + self.args.quiet_wait
        said = False
        while True:
            window = CpuWindow({"ours": roots})
            window.start()
            time.sleep(1.0)
            others = window.stop()["foreign"]
            if others < QUIET_CPUS or time.monotonic() > deadline:
                return others
            if not said:
                self.log(f"  waiting for a quiet machine: others use {others:.2f} CPUs "
                         f"({', '.join(window.top_others[:3])})")  # fmt: skip
                said = True

    def loadgen(
        self, name: str, *, retries: int | None = None, quiet: bool = True, **config: Any
    ) -> dict[str, Any]:
        """One measured run; repeated (up to --retries times) while other processes on
        the machine took QUIET_CPUS or more during it, keeping the least disturbed run."""
        timeout = config.get("warmup", 0) + config["duration"] + 120
        roots = self.our_roots([pid for pids in config.get("watch", {}).values() for pid in pids])
        attempts: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        created = 0
        for attempt in range(1 + (self.args.retries if retries is None else retries)):
            if quiet:
                self.wait_quiet(roots)
            result = self.procs.run_json(
                f"{name}-{attempt + 1}", ["bench.loadgen", orjson.dumps(config).decode()], timeout
            )
            created += result.get("total_ok_including_warmup", 0)
            others = result["cpu_s"].get("foreign", 0.0) / config["duration"]
            attempts.append(
                {
                    "other_processes_cpus": round(others, 3),
                    "top_other_processes": result.get("cpu_top_other_processes", []),
                    "throughput_per_s": result.get("throughput_per_s"),
                    "p99_ms": result.get("p99_ms"),
                }
            )
            if best is None or others < best["other_processes_cpus"]:
                best = result | {"other_processes_cpus": others}
            if others < QUIET_CPUS or attempt == (
                self.args.retries if retries is None else retries
            ):
                break
            self.log(f"  others took {others:.2f} CPUs during the run: measuring again")
        assert best is not None
        best["attempts"] = attempts
        best["created_all_attempts"] = created
        return best

    async def _statements(self, db: str, limit: int = 15) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.pg.dsn_for("postgres"))
        try:
            rows = await conn.fetch(
                """
                SELECT s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows
                FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE d.datname = $1
                ORDER BY s.total_exec_time DESC LIMIT $2
                """,
                db,
                limit,
            )
        finally:
            await conn.close()
        return [
            {
                "query": " ".join(r["query"].split()),
                "calls": r["calls"],
                "total_ms": r["total_exec_time"],
                "mean_ms": r["mean_exec_time"],
            }
            for r in rows
        ]

    def statements(self, db: str) -> list[dict[str, Any]]:
        if not self.pg_stat_statements:
            return []
        return asyncio.run(self._statements(db))

    async def _counts(self, db: str) -> dict[str, int]:
        conn = await asyncpg.connect(self.pg.dsn_for(db))
        try:
            return {
                table: int(await conn.fetchval(f"SELECT count(*) FROM tickets.{table}"))
                for table in ("ticket", "message", "ticket_history", "outbox", "customer")
            }
        finally:
            await conn.close()

    # -- phases ----------------------------------------------------------------------------

    def phase(self, name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run one phase; a failure is recorded and the other phases still run."""
        try:
            return run()
        except BenchError as exc:
            self.log(f"{name} failed: {exc}")
            self.results["errors"].append({"phase": name, "error": str(exc)})
        except Exception as exc:
            self.log(f"{name} failed: {exc!r}")
            self.results["errors"].append(
                {"phase": name, "error": repr(exc), "traceback": traceback.format_exc()}
            )
        return {"error": self.results["errors"][-1]["error"]}

    def api_phase(self, workers: int) -> dict[str, Any]:
        args = self.args
        db = self.fresh_database(f"bench_api_w{workers}")
        port = bench_port()
        url = f"http://127.0.0.1:{port}"
        env = self.service_env(db, TICKET_API_PORT=str(port), TICKET_API_WORKERS=str(workers))
        self.log(f"ticket-api with {workers} worker(s) on port {port}")
        api = self.procs.start(
            f"ticket-api-w{workers}", [str(BIN / "helpdesk-ticket-api"), "serve"], env
        )
        try:
            api.wait_http_ok(url + "/readyz")
            # /readyz answers as soon as one worker serves; give the others a moment.
            time.sleep(1.0 if workers > 1 else 0.2)
            common: dict[str, Any] = {
                "target": "http",
                "url": url,
                "api_key": self.admin_key,
                "watch": {"api": [api.pid], "postgres": [self.postmaster_pid()]},
                "stats_dsn": self.pg.dsn_for("postgres"),
                "stats_db": db,
                "reset_statements": self.pg_stat_statements,
            }
            out: dict[str, Any] = {"workers": workers, "database": db}
            self.log(f"  closed loop, concurrency {args.concurrency}, {args.duration:.0f}s")
            out["closed"] = self.loadgen(
                f"loadgen-w{workers}-closed", **common, pattern="closed",
                concurrency=args.concurrency, duration=args.duration, warmup=args.warmup,
            )  # fmt: skip
            out["closed"]["statements"] = self.statements(db)
            self._say(out["closed"])
            self.log(f"  open loop at {args.rate:.0f}/s, {args.duration:.0f}s")
            out["open"] = self.loadgen(
                f"loadgen-w{workers}-open", **common, pattern="open", rate=args.rate,
                duration=args.duration, warmup=min(args.warmup, 2.0),
            )  # fmt: skip
            self._say(out["open"])
            if workers > 1:
                self.log("  closed loop again, a new connection per request (spreads workers)")
                out["closed_no_keepalive"] = self.loadgen(
                    f"loadgen-w{workers}-closed-nokeepalive", **common, pattern="closed",
                    concurrency=args.concurrency, duration=args.duration, warmup=args.warmup,
                    keepalive=False,
                )  # fmt: skip
                self._say(out["closed_no_keepalive"])
            capacity = max(
                run.get("throughput_per_s", 0.0)
                for run in (out["closed"], out.get("closed_no_keepalive", {}))
            )
            if capacity < 0.9 * args.rate:
                # Below the target rate: the latency it offers at a load it can carry.
                rate = max(10.0, round(0.6 * capacity / 10) * 10)
                self.log(f"  open loop at {rate:.0f}/s (60 % of its closed-loop throughput)")
                out["open_sustainable"] = self.loadgen(
                    f"loadgen-w{workers}-open-low", **common, pattern="open", rate=rate,
                    duration=args.duration, warmup=min(args.warmup, 2.0),
                )  # fmt: skip
                self._say(out["open_sustainable"])
            self.log(f"  HTTP floor: GET /healthz, closed loop, {args.duration / 2:.0f}s")
            out["healthz"] = self.loadgen(
                f"loadgen-w{workers}-healthz", **common, pattern="closed", method="GET",
                path="/healthz", expect_status=200, concurrency=args.concurrency,
                duration=args.duration / 2, warmup=1.0,
            )  # fmt: skip
            self._say(out["healthz"])
            if workers == 1 and not args.no_profile:
                out["profile"] = self.profile(api, common)
            counts = asyncio.run(self._counts(db))
            runs = [
                out["closed"],
                out.get("closed_no_keepalive", {}),
                out["open"],
                out.get("open_sustainable", {}),
                out.get("profile", {}).get("profile_run", {}),
            ]
            created = sum(run.get("created_all_attempts", 0) for run in runs)
            out["database_check"] = {
                **counts,
                "created_201_responses": created,
                "tickets_match_201s": counts["ticket"] == created,
            }
            return out
        finally:
            self.procs.stop(api)

    def profile(self, api: Process, common: dict[str, Any]) -> dict[str, Any]:
        py_spy = pyspy.find(self.args.py_spy)
        if py_spy is None:
            return {"skipped": "py-spy not found (--py-spy PATH, BENCH_PY_SPY or PATH)"}
        seconds = max(3, int(self.args.duration * 0.8))
        raw = self.logs / "py-spy-api.txt"
        self.log(f"  py-spy profile of the API process, {seconds}s (closed loop)")
        self.wait_quiet(self.our_roots([api.pid]))
        spy = pyspy.record(py_spy, api.pid, seconds, raw, self.logs / "py-spy.log")
        try:
            time.sleep(0.5)
            run = self.loadgen(
                "loadgen-profile", retries=0, quiet=False, **common, pattern="closed",
                concurrency=self.args.concurrency, duration=seconds, warmup=0.5,
            )  # fmt: skip
            spy.wait(30)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        if not raw.exists():
            return {"skipped": f"py-spy wrote no profile (exit code {spy.returncode})"}
        summary = pyspy.summarize(raw)
        summary["seconds"] = seconds
        summary["throughput_under_profiler_per_s"] = run["throughput_per_s"]
        summary["profile_run"] = {"created_all_attempts": run["created_all_attempts"]}
        if self.args.keep:
            summary["raw_file"] = str(raw)
        return summary

    def raw_phase(self) -> dict[str, Any]:
        args = self.args
        db = self.fresh_database("bench_raw")
        common: dict[str, Any] = {
            "target": "raw",
            "dsn": self.pg.dsn_for(db),
            "topic": TOPIC_PREFIX + "helpdesk.tickets",
            "watch": {"postgres": [self.postmaster_pid()]},
            "stats_dsn": self.pg.dsn_for("postgres"),
            "stats_db": db,
            "reset_statements": self.pg_stat_statements,
        }
        out: dict[str, Any] = {"database": db}
        self.log(f"raw SQL closed loop, concurrency {args.concurrency}, {args.duration:.0f}s")
        out["closed"] = self.loadgen(
            "loadgen-raw-closed", **common, pattern="closed", concurrency=args.concurrency,
            duration=args.duration, warmup=args.warmup,
        )  # fmt: skip
        out["closed"]["statements"] = self.statements(db)
        self._say(out["closed"])
        self.log(f"raw SQL open loop at {args.rate:.0f}/s, {args.duration:.0f}s")
        out["open"] = self.loadgen(
            "loadgen-raw-open", **common, pattern="open", rate=args.rate,
            concurrency=args.concurrency, duration=args.duration, warmup=min(args.warmup, 2.0),
        )  # fmt: skip
        self._say(out["open"])
        out["database_check"] = asyncio.run(self._counts(db))
        return out

    def relay_phase(self) -> dict[str, Any]:
        events = self.args.relay_events
        db = self.fresh_database("bench_relay")
        topic = TOPIC_PREFIX + "helpdesk.tickets"
        partitions = int(os.environ.get("HELPDESK_TOPIC_PARTITIONS", "6"))
        asyncio.run(ensure_topics(self.broker.bootstrap_servers, [topic], partitions))
        self.log(f"relay: encoding {events} ticket.created events")
        records = workload.outbox_records(events, topic, seed=7)
        preload = asyncio.run(relay.preload(self.pg.dsn_for(db), records))
        del records
        self.log(f"relay: {preload['rows']} outbox rows loaded; starting the relay")
        env = self.service_env(db)
        batch_size = env.get("TICKET_API_RELAY_BATCH_SIZE", "2000 (default)")
        self.wait_quiet(self.our_roots([]))
        process = self.procs.start("relay", [str(BIN / "helpdesk-ticket-api"), "relay"], env)
        spawned = time.monotonic()
        try:
            cpu = CpuWindow(
                {
                    "relay": [process.pid],
                    "postgres": [self.postmaster_pid()],
                    "broker": [self.broker.pid or -1],
                }
            )
            drain = asyncio.run(
                relay.watch_drain(self.pg.dsn_for(db), events, spawned, cpu, timeout=300)
            )
        finally:
            self.procs.stop(process)
        self.log(
            f"  drained {events} events: {drain['events_per_s']:.0f}/s steady, "
            f"{drain['events_per_s_from_spawn']:.0f}/s including start-up"
        )
        kafka = asyncio.run(relay.kafka_count(self.broker.bootstrap_servers, topic, events))
        self.log(
            f"  Kafka: {kafka['records_read']} records read, "
            f"{kafka['distinct_event_ids']} distinct events"
        )
        return {
            "database": db,
            "topic": topic,
            "partitions": partitions,
            "batch_size": batch_size,
            "preload": preload,
            "drain": drain,
            "kafka": kafka,
        }

    def _say(self, run: dict[str, Any]) -> None:
        rate = run.get("throughput_per_s", run.get("achieved_rate_per_s", 0.0))
        self.log(
            f"    {rate:.0f}/s  p50 {run.get('p50_ms', float('nan')):.1f} ms  "
            f"p99 {run.get('p99_ms', float('nan')):.1f} ms  "
            f"max {run.get('max_ms', float('nan')):.1f} ms  failed {run.get('failed', 0)}"
        )
        # Failed requests say why: a run whose every request fails still has a rate of 0/s.
        for error, count in (run.get("exceptions") or {}).items():
            self.log(f"    {count} x {error}")

    # -- the whole run -----------------------------------------------------------------------

    def run(self) -> None:
        self.log(f"work folder {self.workdir}")
        self.results["machine"] = machine.describe(self.workdir)
        self.start_infrastructure()
        phases = self.args.phase_set
        if "api" in phases:
            for workers in self.args.worker_counts:
                self.results["api"][f"workers_{workers}"] = self.phase(
                    f"api-w{workers}", functools.partial(self.api_phase, workers)
                )
        if "raw" in phases:
            self.results["raw"] = self.phase("raw", self.raw_phase)
        if "relay" in phases:
            self.results["relay"] = self.phase("relay", self.relay_phase)
        self.results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")

    def close(self) -> None:
        self.procs.close()
        with contextlib.suppress(Exception):
            self.broker.stop()
        with contextlib.suppress(Exception):
            self.pg.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        report.write(orjson.loads(args.out.read_bytes()), args.out, args.report)
        print(f"report: {args.report}")
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        # Under nohup SIGHUP stays ignored.
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise_interrupt)
    workdir = scratch_dir("helpdesk-bench-")
    bench = Bench(args, workdir)
    status = 0
    try:
        bench.run()
        report.write(bench.results, args.out, args.report)
        bench.log(f"results: {args.out}  report: {args.report}")
        if bench.results["errors"]:
            status = 1
    except KeyboardInterrupt:
        bench.log("interrupted: stopping everything")
        status = 130
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        # Ctrl-C again while cleaning up must not leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.close()
        if args.keep:
            bench.log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return status


if __name__ == "__main__":
    sys.exit(main())
