"""``make bench`` (rule engine): rule-set evaluations per second in process, and ticket
created → rule's change committed, end to end through the real processes.

Writes bench/RULES.md and bench/results/rules.json. ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

if __package__ in (None, ""):
    # Run as a script (python bench/rules.py): make `bench` importable as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import asyncpg  # type: ignore[import-untyped, unused-ignore]
import orjson
import uvloop
from helpdesk_devstack.broker import LocalBroker, ensure_topics, reading_from_start
from helpdesk_devstack.ports import free_port
from helpdesk_devstack.postgres import LocalPostgres
from helpdesk_events import TicketSnapshot
from helpdesk_rule_engine.engine.ruleset import RuleSet

from bench.cpu import CpuWindow, StealSampler
from bench.machine import describe
from bench.poster import Poster
from bench.procs import BIN, ROOT, Processes, bench_key, clean_env, migrate, scratch_dir

TRIGGERS = (
    "ticket_created", "ticket_created_from_email", "status_changed", "ticket_transferred",
    "offline_message_added", "agent_rated", "tags_changed", "customer_replied",
    "agent_replied", "sla_breached",
)  # fmt: skip
WORDS = ("billing", "refund", "invoice", "login", "password", "crash", "slow", "urgent",
         "cancel", "upgrade", "delivery", "broken", "api", "export", "gdpr")  # fmt: skip
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def log(message: str) -> None:
    print(f"[rules {time.strftime('%H:%M:%S')}] {message}", flush=True)


def random_conditions(rng: random.Random) -> dict[str, Any]:
    """One to three groups of one to three conditions over the usual fields."""

    def condition() -> dict[str, Any]:
        kind = rng.randrange(7)
        if kind == 0:
            return {"field": "subject", "op": "contains", "value": rng.choice(WORDS)}
        if kind == 1:
            return {"field": "body", "op": "contains", "value": rng.choice(WORDS)}
        if kind == 2:
            return {
                "field": "priority",
                "op": "in",
                "value": rng.sample(["low", "medium", "high", "urgent"], 2),
            }
        if kind == 3:
            return {"field": "tags", "op": "has_tag", "value": rng.choice(WORDS)}
        if kind == 4:
            return {
                "field": "channel",
                "op": "is",
                "value": rng.choice(["email", "chat", "web_form", "twitter"]),
            }
        if kind == 5:
            return {
                "field": "created_at",
                "op": "within_last",
                "value": rng.randrange(1, 48),
                "unit": "hours",
            }
        return {
            "field": "status",
            "op": "is_not",
            "value": rng.choice(["resolved", "spam", "postponed"]),
        }

    return {
        "any": [
            {"all": [condition() for _ in range(rng.randrange(1, 4))]}
            for _ in range(rng.randrange(1, 4))
        ]
    }


def filler_rule(number: int, rng: random.Random) -> dict[str, Any]:
    """A rule (as POST /v1/rules takes it) evaluated on every event of its trigger, but
    never matching."""
    body: dict[str, Any] = {
        "name": f"filler {number}",
        "trigger": TRIGGERS[number % len(TRIGGERS)],
        "conditions": random_conditions(rng),
        "actions": [{"type": "add_tags", "tags": ["never"]}],
    }
    for group in body["conditions"]["any"]:
        group["all"].append({"field": "subject", "op": "contains", "value": "zzz-no-such-word"})
    return body


def rule_rows(count: int, triggers: tuple[str, ...], rng: random.Random) -> list[Any]:
    return [
        SimpleNamespace(
            id=uuid.uuid4(),
            name=f"rule {i}",
            kind="action",
            position=i * 10,
            trigger=triggers[i % len(triggers)],
            shadow=False,
            active=True,
            conditions=random_conditions(rng),
            actions=[{"type": "add_tags", "tags": ["seen"]}],
        )
        for i in range(count)
    ]


def tickets(count: int, rng: random.Random) -> list[TicketSnapshot]:
    out = []
    for i in range(count):
        words = " ".join(rng.sample(WORDS, 3))
        created = NOW - timedelta(hours=rng.randrange(0, 72))
        out.append(
            TicketSnapshot.model_validate(
                {
                    "id": uuid.uuid4(),
                    "code": f"T-{i:06d}",
                    "subject": f"Question about {words}",
                    "status": rng.choice(["new", "open", "answered", "resolved"]),
                    "channel": rng.choice(["email", "chat", "web_form", "twitter"]),
                    "priority": rng.choice(["low", "medium", "high", "urgent"]),
                    "tags": rng.sample(WORDS, rng.randrange(0, 3)),
                    "created_at": created,
                    "updated_at": created,
                    "status_changed_at": created,
                    "version": 1,
                    "last_message": {
                        "id": uuid.uuid4(),
                        "ticket_id": uuid.uuid4(),
                        "author_kind": "customer",
                        "body": f"Hello, {words} " * 20,
                        "created_at": created,
                    },
                }
            )
        )
    return out


def in_process(seconds: float) -> dict[str, Any]:
    """Events a second through the engine's decision (which rules match, in order), and
    with the condition traces the worker stores by default."""
    rng = random.Random(7)
    sample = tickets(2000, rng)
    results: dict[str, Any] = {}
    layouts: dict[str, tuple[int, tuple[str, ...]]] = {
        "500 rules over 10 triggers": (500, TRIGGERS),
        "500 rules on one trigger (worst case)": (500, ("ticket_created",)),
    }
    for label, (count, triggers) in layouts.items():
        started = time.perf_counter()
        ruleset = RuleSet.build(1, rule_rows(count, triggers, rng))
        compile_s = time.perf_counter() - started
        event_triggers = ["ticket_created", "ticket_created_from_email"]
        per_event = len(ruleset.candidates(event_triggers, new_ticket=True))
        row: dict[str, Any] = {"rules": count, "rules_per_event": per_event, "compile_s": compile_s}
        for mode in ("decision", "decision + traces"):
            done, matched = 0, 0
            deadline = time.perf_counter() + seconds
            start = time.perf_counter()
            while time.perf_counter() < deadline:
                for ticket in sample[:200]:
                    candidates = ruleset.candidates(event_triggers, new_ticket=True)
                    hits = ruleset.matching(
                        event_triggers, new_ticket=True, ticket=ticket, changes=None, now=NOW
                    )
                    if mode != "decision":
                        for rule in candidates:
                            rule.conditions.explain(ticket, None, NOW)
                    matched += len(hits)
                    done += 1
            elapsed = time.perf_counter() - start
            row[mode] = {"events_per_s": done / elapsed, "matched_per_event": matched / done}
            log(f"{label}: {mode}: {done / elapsed:,.0f} events/s ({per_event} rules each)")
        results[label] = row
    return results


async def at_rate(
    rate: float, count: int, send: Callable[[int], Coroutine[Any, Any, None]]
) -> float:
    """``send(0)`` … ``send(count - 1)`` started ``rate`` a second, each as its own task
    (a slow answer does not hold the next one back); how long the sending took."""
    start = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start


# The end-to-end pipeline's topics are named with this prefix.
TOPIC_PREFIX = "bench."


async def pipeline_env(
    pg: LocalPostgres, broker: LocalBroker, admin: str, service: str, api_port: int, rules_port: int
) -> dict[str, str]:
    """The pipeline's topics (prefix ``bench.``, 6 partitions each) and the environment its
    processes run with: this benchmark's database, broker, keys and ports, none of the
    caller's service settings."""
    await ensure_topics(
        broker.bootstrap_servers,
        [f"{TOPIC_PREFIX}helpdesk.{t}" for t in ("tickets", "agents", "sla", "notifications")],
        6,
    )
    env = clean_env()
    env.update(
        DATABASE_URL=pg.url,
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        HELPDESK_TOPIC_PREFIX=TOPIC_PREFIX,
        HELPDESK_ADMIN_KEY=admin,
        HELPDESK_SERVICE_KEY=service,
        HELPDESK_TICKET_API_URL=f"http://127.0.0.1:{api_port}",
        LOG_LEVEL="WARNING",
        TICKET_API_PORT=str(api_port),
        RULE_ENGINE_PORT=str(rules_port),
    )
    return env


@dataclass
class Pipeline:
    """The pipeline's shared part running for one benchmark: PostgreSQL, the broker,
    ticket-api with its relay, and the rule engine's API."""

    procs: Processes
    pg: LocalPostgres
    broker: LocalBroker
    env: dict[str, str]
    admin_key: str
    api_port: int
    rules_port: int


@asynccontextmanager
async def pipeline(
    workdir: Path,
    *services: str,
    pg_settings: dict[str, str] | None = None,
    env_overrides: dict[str, str] | None = None,
) -> AsyncIterator[Pipeline]:
    """A fresh cluster (with ``pg_settings``) and broker in ``workdir``, migrated for
    ticket-api, the rule engine and ``services`` (their commands); ticket-api, its relay and
    the rule engine's API running with ``pipeline_env`` (plus ``env_overrides``). The caller
    starts the workers it measures; every process is stopped on exit."""
    procs = Processes(workdir / "logs")
    pg = LocalPostgres(workdir / "pg", free_port(), fast=False, extra_settings=pg_settings)
    broker = LocalBroker(free_port(), workdir / "logs" / "broker.log")
    admin = bench_key()
    api_port, rules_port = free_port(), free_port()
    await asyncio.to_thread(pg.start)
    await asyncio.to_thread(broker.start)
    try:
        env = await pipeline_env(pg, broker, admin, bench_key(), api_port, rules_port)
        env.update(env_overrides or {})
        await migrate(env, "helpdesk-ticket-api", "helpdesk-rule-engine", *services)
        procs.start("ticket-api", [str(BIN / "helpdesk-ticket-api"), "serve"], env).wait_http_ok(
            f"http://127.0.0.1:{api_port}/readyz"
        )
        procs.start("relay", [str(BIN / "helpdesk-ticket-api"), "relay"], env)
        procs.start("rule-engine", [str(BIN / "helpdesk-rule-engine"), "serve"], env).wait_http_ok(
            f"http://127.0.0.1:{rules_port}/readyz"
        )
        yield Pipeline(procs, pg, broker, env, admin, api_port, rules_port)
    finally:
        procs.close()
        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(pg.stop)


async def end_to_end(
    workdir: Path,
    rate: float,
    seconds: float,
    rules: int,
    *,
    pg_statements: bool = False,
    settings: dict[str, str] | None = None,
    rule_workers: int = 1,
    warmup: float = 2.0,
    timeline: Path | None = None,
) -> dict[str, Any]:
    """Tickets posted at a fixed rate; latency from ticket.created to the rule's transfer
    (both stamped by ticket-api when they commit, so: until the change is visible)."""
    # A fresh cluster and broker for every rate.
    workdir = scratch_dir(f"e2e-{rate:g}-", workdir)
    async with pipeline(
        workdir,
        pg_settings={
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track_planning": "on",
        }
        if pg_statements
        else None,
        env_overrides={
            "RULE_ENGINE_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "RULE_ENGINE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            **(settings or {}),
        },
    ) as started:
        procs, pg, broker, env = started.procs, started.pg, started.broker, started.env
        admin, api_port, rules_port = started.admin_key, started.api_port, started.rules_port
        for n in range(rule_workers):
            procs.start(
                "rule-worker" if n == 0 else f"rule-worker-{n + 1}",
                [str(BIN / "helpdesk-rule-engine"), "worker"],
                env,
            )
        headers = {"Authorization": f"Bearer {admin}"}
        rng = random.Random(11)
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(
                f"http://127.0.0.1:{api_port}/v1/departments", json={"name": "Billing"}
            ) as r:
                billing = (await r.json())["id"]
            # The one rule that fires, among others on the same trigger that do not.
            for i in range(rules - 1):
                body = filler_rule(i, rng)
                async with http.post(f"http://127.0.0.1:{rules_port}/v1/rules", json=body) as r:
                    assert r.status == 201, await r.text()
            async with http.post(
                f"http://127.0.0.1:{rules_port}/v1/rules",
                json={
                    "name": "Billing to Billing",
                    "trigger": "ticket_created",
                    "conditions": {
                        "any": [
                            {"all": [{"field": "subject", "op": "contains", "value": "billing"}]}
                        ]
                    },
                    "actions": [{"type": "transfer", "department_id": billing}],
                },
            ) as r:
                assert r.status == 201, await r.text()
            dsn = pg.dsn_for(pg.database)
            db = await asyncpg.connect(dsn)

            async def transferred() -> int:
                """Tickets the rule moved to Billing so far (an index lookup, cheap enough to
                ask five times a second)."""
                count: int = await db.fetchval(
                    "SELECT count(*) FROM tickets.ticket WHERE department_id = $1::uuid", billing
                )
                return count

            failures = 0
            warm_ids: set[str] = set()

            # The tickets go through a lean client: aiohttp spent about 0.5 ms of CPU per
            # request on the machine under test (see bench/poster.py).
            poster = Poster("127.0.0.1", api_port, headers)

            async def post(i: int, warm: bool = False) -> None:
                nonlocal failures
                # Encoded here with orjson (aiohttp's json= uses the standard library): the
                # load generator shares the machine under test, so it should cost little.
                body = orjson.dumps(
                    {
                        "subject": f"billing {'warm-up' if warm else 'question'} {i}",
                        "channel": "email",
                        "customer": {"email": f"c{i % 500}@example.com"},
                        "message": {"body": "My invoice is wrong."},
                    }
                )
                status, answer = await poster.post("/v1/tickets", body)
                if warm:
                    assert status == 201, answer
                    warm_ids.add(orjson.loads(answer)["id"])
                elif status != 201:
                    failures += 1

            # Warm up: one ticket (the worker has joined its group and compiled the rules),
            # then a burst at the rate, so that connection pools are full, statements are
            # prepared and caches are warm before the measured run, as in a service that
            # has been up for a while.
            await post(-1, warm=True)
            async with asyncio.timeout(120):
                while await transferred() < 1:
                    await asyncio.sleep(0.1)
            warm_count = int(rate * warmup)
            await at_rate(rate, warm_count, lambda i: post(i, warm=True))
            async with asyncio.timeout(120):
                while await transferred() < 1 + warm_count:
                    await asyncio.sleep(0.1)
            total = int(rate * seconds)
            log(f"end to end: {rules} rules, posting {total} tickets at {rate:.0f}/s")

            window = CpuWindow(
                {
                    **{
                        name: [p.pid for n, p in procs.by_name.items() if n.startswith(name)]
                        for name in procs.by_name
                        if not name.startswith("rule-worker-")
                    },
                    "postgresql": [pg._postmaster_pid() or 0],
                    "broker": [broker.pid or 0],
                }
            )
            counters_before = await pg_counters(pg.dsn_for(pg.database))
            window.start()
            steal = StealSampler()
            steal.start()
            sent_for = await at_rate(rate, total, post)
            deadline = time.perf_counter() + 60
            expected = 1 + warm_count + total - failures
            while await transferred() < expected and time.perf_counter() < deadline:
                await asyncio.sleep(0.2)
            cpu = window.stop()
            steal_per_second = await steal.stop()
            poster.close()
            counters = await pg_counters(dsn)
            await db.close()
            # The times are read from the topic afterwards: a consumer reading along would
            # load the machine under test (the broker and this process) for the measurement.
            created, relayed, changed = await event_times(
                broker.bootstrap_servers,
                f"{TOPIC_PREFIX}helpdesk.tickets",
                total - failures,
                warm_ids,
            )
            evaluated = await evaluation_times(pg.dsn_for(pg.database))
            statements = (
                await top_statements(pg.dsn_for(pg.database), total) if pg_statements else None
            )
        latencies = sorted(
            (changed[t] - created[t]).total_seconds() * 1000 for t in changed if t in created
        )
        if not latencies:
            raise RuntimeError("no rule change arrived")
        stages = stage_percentiles(created, relayed, evaluated, changed)
        if timeline is not None:
            # Every ticket's four times, for looking at when the slow ones happened.
            times = {t: [d.get(t) for d in (created, relayed, evaluated, changed)] for t in changed}
            await asyncio.to_thread(timeline.write_text, json.dumps(times, default=str))
        return {
            "rules": rules,
            "rule_workers": rule_workers,
            "warmup_s": warmup,
            "rate_per_s": rate,
            "tickets": total,
            "posted_per_s": total / sent_for,
            "failed_posts": failures,
            "changed": len(latencies),
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "max_ms": latencies[-1],
            "stages": stages,
            **({"pg_statements": statements} if statements is not None else {}),
            "pg_per_ticket": {
                k: round((counters[k] - counters_before[k]) / total, 2) for k in counters
            },
            "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
            # CPUs the hypervisor took in each second of the window.
            "steal_per_second": steal_per_second,
            "steal_started_at": datetime.fromtimestamp(steal.started_at, UTC).isoformat(),
            "cpu_ms_per_ticket": {
                k: round(cpu[k] * 1000 / total, 2)
                for k in (
                    *(n for n in procs.by_name if not n.startswith("rule-worker-")),
                    "postgresql",
                    "broker",
                    "kernel_threads",
                    "load_generator",
                )
            },
        }


async def event_times(
    bootstrap_servers: str, topic: str, expected: int, skip: set[str]
) -> tuple[dict[str, datetime], dict[str, datetime], dict[str, datetime]]:
    """From the topic, per ticket: when ticket-api committed its creation, when the relay
    handed that event to the broker (producer time), when ticket-api committed the rule's
    transfer. Reads until every expected ticket has all three, or the topic has no more."""
    created: dict[str, datetime] = {}
    relayed: dict[str, datetime] = {}
    changed: dict[str, datetime] = {}
    async with reading_from_start(bootstrap_servers, topic, "bench") as consumer:
        idle = 0
        while idle < 10 and (len(changed) < expected or len(created) < expected):
            batches = await consumer.getmany(timeout_ms=500)
            idle = 0 if batches else idle + 1
            for records in batches.values():
                for record in records:
                    event = orjson.loads(record.value or b"{}")
                    if event["ticket_id"] in skip:
                        continue
                    at = datetime.fromisoformat(event["occurred_at"])
                    if event["type"] == "ticket.created":
                        created[event["ticket_id"]] = at
                        relayed[event["ticket_id"]] = datetime.fromtimestamp(
                            record.timestamp / 1000, UTC
                        )
                    elif event["type"] == "ticket.transferred" and event["actor"]["kind"] == "rule":
                        changed[event["ticket_id"]] = at
    return created, relayed, changed


async def fetch(dsn: str, *statements: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """The rows of the last statement, on a connection of its own (the others run first)."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements[:-1]:
            await conn.execute(statement)
        return list(await conn.fetch(statements[-1], *args))
    finally:
        await conn.close()


async def evaluation_times(dsn: str) -> dict[str, datetime]:
    """When the worker evaluated each ticket's ticket.created event."""
    rows = await fetch(
        dsn,
        "SELECT ticket_id::text, evaluated_at FROM rules.evaluation "
        "WHERE event_type = 'ticket.created'",
    )
    return {r[0]: r[1] for r in rows}


async def pg_counters(dsn: str) -> dict[str, float]:
    """PostgreSQL's running totals of commits and WAL writes and flushes (fsyncs)."""
    (row,) = await fetch(
        dsn,
        "SELECT (SELECT sum(xact_commit) FROM pg_stat_database) AS commits, "
        "wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal",
    )
    return {k: float(v) for k, v in row.items()}


async def top_statements(
    dsn: str, tickets: int, *, least_calls: int | None = None
) -> list[dict[str, Any]]:
    """The statements PostgreSQL spent most time on (pg_stat_statements), per ticket: those
    called at least ``least_calls`` times (None: once every other ticket)."""
    rows = await fetch(
        dsn,
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        "SELECT calls, total_exec_time, total_plan_time, rows, shared_blks_hit, "
        "shared_blks_read, shared_blks_dirtied, wal_bytes, query FROM pg_stat_statements "
        "WHERE calls >= $1 ORDER BY total_exec_time + total_plan_time DESC LIMIT 15",
        args=(tickets // 2 if least_calls is None else least_calls,),
    )
    return [
        {
            "calls_per_ticket": round(r["calls"] / tickets, 2),
            "us_per_call": round(r["total_exec_time"] * 1000 / r["calls"], 1),
            "plan_us_per_call": round(r["total_plan_time"] * 1000 / r["calls"], 1),
            "us_per_ticket": round(
                (r["total_exec_time"] + r["total_plan_time"]) * 1000 / tickets, 1
            ),
            "rows_per_call": round(r["rows"] / r["calls"], 2),
            "shared_blks_per_call": round(
                (r["shared_blks_hit"] + r["shared_blks_read"]) / r["calls"], 1
            ),
            "dirtied_blks_per_ticket": round(r["shared_blks_dirtied"] / tickets, 2),
            "wal_bytes_per_ticket": round(float(r["wal_bytes"]) / tickets),
            "query": " ".join(r["query"].split())[:160],
        }
        for r in rows
    ]


def stage_percentiles(
    created: dict[str, datetime],
    relayed: dict[str, datetime],
    evaluated: dict[str, datetime],
    changed: dict[str, datetime],
) -> dict[str, dict[str, float]]:
    """p50/p99 of each step: ticket-api commit → relay sends it to the broker → the worker
    evaluates it → the write-back commits."""
    steps = {
        "created → relayed": (created, relayed),
        "relayed → evaluated": (relayed, evaluated),
        "evaluated → changed": (evaluated, changed),
    }
    out: dict[str, dict[str, float]] = {}
    for name, (start, end) in steps.items():
        values = sorted(
            (end[t] - start[t]).total_seconds() * 1000 for t in changed if t in start and t in end
        )
        if values:
            out[name] = {
                "p50_ms": round(statistics.median(values), 1),
                "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 1),
            }
    return out


IN_PROCESS_NOTE = (
    "One evaluation = all candidate rules of one event (a new e-mail ticket: triggers "
    "`ticket_created` and `ticket_created_from_email`). *decision* is which rules match (one "
    "compiled function per trigger), what the worker computes for every event; *decision + "
    "traces* also builds the per-condition trace of every candidate, which the worker stores "
    "only with `RULE_ENGINE_FULL_TRACES=true` (by default it stores traces of matching rules "
    "and recomputes the others on request)."
)
E2E_NOTE = (
    "Real processes: ticket-api (1 worker), its relay, rule-engine API and worker, PostgreSQL "
    "(fsync on), the broker. {rules} active rules; one transfers every posted ticket (subject "
    'contains "billing") to Billing. After a warm-up ({warmup:g} s at the rate: connection '
    "pools full, statements prepared), {tickets} tickets posted at {rate:.0f}/s (achieved "
    "{posted:.0f}/s, {failed} failed); the event times are read from the topic afterwards. "
    "Latency = the rule's `ticket.transferred` event time "
    "minus the `ticket.created` time, both stamped by ticket-api at commit, i.e. until the "
    "change is visible through the API. {changed} of {tickets} changes arrived within 60 s "
    "after the last post."
)


# CPUs taken by others (other guests of the virtual machine's host, as steal, and other
# processes) below which a run counts as undisturbed; as in bench/run.py.
QUIET_CPUS = 0.15
# ... and the steal in the run's worst second: the p99 of a 10-second run is its worst
# 100 ms, which a host taking half the machine for a second decides on its own.
QUIET_SECOND_CPUS = 0.4


def disturbance(run: dict[str, Any]) -> dict[str, float]:
    """CPUs others took during a run's window: all of it (``other_cpus``: every busy tick
    not ours, including the hypervisor's steal) and the steal alone."""
    cpu = run.get("cpu_seconds", {})
    window = cpu.get("window_s") or 0.0
    if not window:
        return {"other_cpus": 0.0, "steal_cpus": 0.0, "worst_second_steal_cpus": 0.0}
    steal = cpu.get("machine_steal", 0.0)
    return {
        # (CpuWindow's "foreign" is never less than the steal; older results may be.)
        "other_cpus": round(max(cpu.get("foreign", 0.0), steal) / window, 3),
        "steal_cpus": round(steal / window, 3),
        "worst_second_steal_cpus": max(run.get("steal_per_second") or [0.0]),
    }


def _calmer(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether a run with disturbance ``a`` was less disturbed than one with ``b``."""
    if disturbed(a) != disturbed(b):
        return not disturbed(a)
    return a["other_cpus"] + a["worst_second_steal_cpus"] < (
        b["other_cpus"] + b["worst_second_steal_cpus"]
    )


def disturbed(others: dict[str, float]) -> bool:
    return (
        others["other_cpus"] >= QUIET_CPUS
        or others.get("worst_second_steal_cpus", 0.0) >= QUIET_SECOND_CPUS
    )


def _attempts_note(run: dict[str, Any]) -> str:
    """``; attempts: …`` when the target rate was measured more than once."""
    attempts = run.get("attempts") or []
    if len(attempts) < 2:
        return ""
    listed = ", ".join(
        f"p99 {a['p99_ms']:,.0f} ms with others {a['other_cpus']:.2f} CPUs "
        f"(steal {a['steal_cpus']:.2f}, worst second {a.get('worst_second_steal_cpus', 0):.2f})"
        for a in attempts
    )
    return f"; {len(attempts)} attempts, the least disturbed reported: {listed}"


def report(results: dict[str, Any], path: Path) -> None:
    machine = results["machine"]
    spread = results["in_process"]["500 rules over 10 triggers"]
    worst = results["in_process"]["500 rules on one trigger (worst case)"]
    e2e = results.get("end_to_end")
    rate = spread["decision"]["events_per_s"]
    lines = [
        "# Benchmarks: rule engine",
        "",
        f"Measured by `make bench` (`bench/rules.py`) on {results['started_at']}.",
        "",
        "## Machine",
        "",
        f"{machine.get('nproc', '?')} CPUs ({machine.get('cpu_model', '?')}), "
        f"{machine.get('memory_gib', '?')} GiB, Python {machine.get('python', '?')}, "
        f"{machine.get('postgres', '?')}. PostgreSQL, the broker, ticket-api, its relay, the "
        "rule engine and the load generator share these cores.",
        "",
        "## Targets",
        "",
        "| Target | Goal | Measured | Result |",
        "| --- | --- | --- | --- |",
        f"| rule-set evaluations in process, 500 active rules | >= 20,000/s | {rate:,.0f}/s "
        f"(decision; {spread['rules_per_event']} rules per event) | "
        f"{'pass' if rate >= 20000 else '**MISS**'} |",
    ]
    if e2e:
        ok = e2e["p99_ms"] <= 250 and e2e["changed"] == e2e["tickets"] - e2e["failed_posts"]
        lines.append(
            f"| ticket created → rule's change committed, {e2e['rate_per_s']:.0f} tickets/s | "
            f"p99 <= 250 ms | p50 {e2e['p50_ms']:,.0f} ms, p99 {e2e['p99_ms']:,.0f} ms "
            f"({e2e['changed']}/{e2e['tickets']} arrived{_attempts_note(e2e)}) | "
            f"{'pass' if ok else '**MISS**'} |"
        )
    lines += [
        "",
        "## In process",
        "",
        IN_PROCESS_NOTE,
        "",
        "| layout | rules per event | compile | decision | decision + traces |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, row in (("500 rules over 10 triggers", spread), ("500 rules on one trigger", worst)):
        lines.append(
            f"| {label} | {row['rules_per_event']} | {row['compile_s']:.2f} s | "
            f"{row['decision']['events_per_s']:,.0f}/s | "
            f"{row['decision + traces']['events_per_s']:,.0f}/s |"
        )
    if e2e:
        note = E2E_NOTE.format(
            rules=e2e["rules"],
            tickets=e2e["tickets"],
            rate=e2e["rate_per_s"],
            posted=e2e["posted_per_s"],
            failed=e2e["failed_posts"],
            changed=e2e["changed"],
            warmup=e2e.get("warmup_s", 0),
        )
        lines += [
            "",
            "## End to end",
            "",
            note,
            "",
            "| p50 | p99 | max |",
            "| ---: | ---: | ---: |",
            f"| {e2e['p50_ms']:,.0f} ms | {e2e['p99_ms']:,.0f} ms | {e2e['max_ms']:,.0f} ms |",
        ]
        runs = results.get("end_to_end_rates") or [e2e]
        processes = ("ticket-api", "relay", "rule-worker", "postgresql", "broker")
        lines += [
            "",
            "The same run at other rates (fresh processes and database each), with the CPU each "
            "process spent per ticket (posting until the last change arrived; from /proc). The "
            "machine has 2 CPU-seconds per second: at a rate where the total per ticket times "
            "the rate nears 2 s, queues grow and latency with them.",
            "",
            "| tickets/s | p50 | p99 | arrived | "
            + " | ".join(processes)
            + " | all processes, per ticket | machine busy "
            "| of which others (steal; worst second) |",
            "| ---: | ---: | ---: | ---: | "
            + " | ".join("---:" for _ in processes)
            + " | ---: | ---: | ---: |",
        ]
        for run in sorted(runs, key=lambda r: r["rate_per_s"]):
            per = run.get("cpu_ms_per_ticket", {})
            total = sum(per.values())
            busy = run.get("cpu_seconds", {}).get("machine_busy_fraction", 0.0)
            others = disturbance(run)
            lines.append(
                f"| {run['rate_per_s']:.0f} | {run['p50_ms']:,.0f} ms | {run['p99_ms']:,.0f} ms | "
                f"{run['changed']}/{run['tickets']} | "
                + " | ".join(f"{per.get(k, 0.0):.2f} ms" for k in processes)
                + f" | {total:.1f} ms | {busy:.0%} | {others['other_cpus']:.2f} CPUs "
                f"({others['steal_cpus']:.2f}; {others['worst_second_steal_cpus']:.2f}) |"
            )
        lines += [
            "",
            "*Others* are CPUs this machine's host gave to other guests (the hypervisor's "
            "*steal*) or that processes not under test used, averaged over the run; then the "
            "steal alone, and in the run's worst second. The host is shared: a run at the "
            f"target rate that others took {QUIET_CPUS} CPUs or more of, or with "
            f"{QUIET_SECOND_CPUS} CPUs or more stolen in one second, is measured again (twice "
            "at most) and the least disturbed attempt reported; every attempt is listed under "
            "the targets, whatever its latency.",
        ]
        lines += [
            "",
            "Where the time goes, step by step (p50 / p99): ticket-api commits the ticket → its "
            "relay hands the event to the broker → the worker evaluates it → ticket-api commits "
            "the rule's change.",
            "",
            "| tickets/s | created → relayed | relayed → evaluated | evaluated → changed |",
            "| ---: | ---: | ---: | ---: |",
        ]
        for run in sorted(runs, key=lambda r: r["rate_per_s"]):
            stages = run.get("stages", {})
            cells = [
                f"{stages[k]['p50_ms']:,.0f} / {stages[k]['p99_ms']:,.0f} ms"
                if k in stages
                else "n/a"
                for k in ("created → relayed", "relayed → evaluated", "evaluated → changed")
            ]
            lines.append(f"| {run['rate_per_s']:.0f} | " + " | ".join(cells) + " |")
        statements = e2e.get("pg_statements")
        if statements:
            lines += [
                "",
                f"PostgreSQL's busiest statements at {e2e['rate_per_s']:.0f}/s "
                "(`--pg-statements`; planning and execution, wall clock; µs per ticket counts "
                "both):",
                "",
                "| calls per ticket | planning µs per call | execution µs per call | µs per ticket "
                "| statement |",
                "| ---: | ---: | ---: | ---: | --- |",
            ]
            for row in statements:
                query = row["query"].replace("|", "\\|")
                lines.append(
                    f"| {row['calls_per_ticket']} | {row.get('plan_us_per_call', 0):,.0f} | "
                    f"{row['us_per_call']:,.0f} | {row['us_per_ticket']:,.0f} | `{query}` |"
                )
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        "make bench                                # API, relay and rule engine",
        ".venv/bin/python bench/rules.py --quick   # a smoke run of this part",
        ".venv/bin/python bench/rules.py --rate 200 --also-rates '' --e2e-only"
        "  # one rate, printed as JSON",
        "# with it: --pg-statements (PostgreSQL's busiest statements), --timeline FILE (every",
        "# ticket's times), --set NAME=VALUE (a service setting), --rule-workers N,",
        "# --retries N (measure a disturbed target-rate run again; 2 in make bench)",
        "```",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument(
        "--seconds", type=float, default=None, help="end-to-end posting time (10; --quick: 3)"
    )
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument(
        "--also-rates",
        default="50,100,150",
        help="end-to-end runs at these rates too, to show where latency turns (comma-separated)",
    )
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument(
        "--e2e-only",
        action="store_true",
        help="only the end-to-end runs, printed as JSON; no report written (for experiments)",
    )
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="load pg_stat_statements and report the statements PostgreSQL spent most time on "
        "(costs a little CPU: the figures are then not the reference ones)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the services under test, e.g. RULE_ENGINE_MAX_IN_FLIGHT=32",
    )
    parser.add_argument(
        "--rule-workers", type=int, default=1, help="rule-engine worker processes (1)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        help="measure the target rate again while other guests took "
        f"{QUIET_CPUS} CPUs or more (2; with --quick or --e2e-only 0)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of posting at the rate before the measured run (2)",
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        help="write every measured ticket's times here (JSON; the last rate's run)",
    )
    args = parser.parse_args(argv)
    if args.retries is None:
        args.retries = 0 if args.quick or args.e2e_only else 2
    settings = dict(item.split("=", 1) for item in args.set)
    seconds = 1.0 if args.quick else 3.0
    workdir = scratch_dir("helpdesk-rules-bench-")
    results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    results["machine"] = describe(workdir)
    if not args.e2e_only:
        results["in_process"] = in_process(seconds)
    if not args.skip_e2e:
        e2e_seconds = args.seconds or (3.0 if args.quick else 10.0)
        rates = sorted({args.rate, *(float(r) for r in args.also_rates.split(",") if r)})
        runs = []
        for rate in rates:
            # The target rate is measured again (up to --retries times) while other guests of
            # the machine took QUIET_CPUS or more of it (see disturbance); the least
            # disturbed attempt is reported, with every attempt listed beside it.
            attempts: list[dict[str, Any]] = []
            best: dict[str, Any] | None = None
            for _attempt in range(1 + (args.retries if rate == args.rate else 0)):
                # uvloop, as the services run: the load generator shares the machine.
                run = uvloop.run(
                    end_to_end(
                        workdir,
                        rate,
                        e2e_seconds,
                        args.rules,
                        pg_statements=args.pg_statements,
                        settings=settings,
                        rule_workers=args.rule_workers,
                        warmup=args.warmup,
                        timeline=args.timeline,
                    )
                )
                log(f"end to end: {json.dumps(run)}")
                others = disturbance(run)
                attempts.append({**others, "p50_ms": run["p50_ms"], "p99_ms": run["p99_ms"]})
                if best is None or _calmer(others, disturbance(best)):
                    best = run
                if not disturbed(others) or rate != args.rate:
                    break
                log(
                    f"  other guests took {others['other_cpus']:.2f} CPUs (steal "
                    f"{others['steal_cpus']:.2f}, {others['worst_second_steal_cpus']:.2f} in the "
                    "worst second) during that run: measuring again"
                )
            assert best is not None
            best["attempts"] = attempts
            runs.append(best)
        results["end_to_end"] = next(r for r in runs if r["rate_per_s"] == args.rate)
        results["end_to_end_rates"] = runs
    if args.e2e_only:
        return 0
    out = ROOT / "bench" / "results" / ("rules-quick.json" if args.quick else "rules.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    report(results, ROOT / "bench" / ("RULES-quick.md" if args.quick else "RULES.md"))
    log(f"report: bench/{'RULES-quick.md' if args.quick else 'RULES.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
