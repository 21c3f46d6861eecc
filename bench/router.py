"""``make bench`` (router): routing decisions per second with 1,000 agents in 50
departments and two router instances deciding at once, capacity violations and double
assignments counted afterwards, and the router's CPU per decision.

Each decision is the worker's real path (``route`` below: in one short transaction
the ticket's row locked, the policy and the department's agents and loads read, the
choice, the winner's row locked and their slot reserved with the explained decision;
committed; then the assignment written back through the real ticket-api with an
idempotency key, and its answer recorded with those of the other decisions in flight).
The two instances are two processes, each with its own database pool and ticket-api
session, routing interleaved halves of the same departments' tickets. Tickets are created
through ticket-api first; the router's rows for agents and waiting tickets are written as
its handlers would write them, beside each agent's history of closed chats, so what is
timed is the decisions alone (the Kafka path is measured by ``make bench``'s other parts).
The CPU that ticket-api and PostgreSQL use meanwhile, and what other processes on the
machine take, are measured from /proc.

Writes bench/ROUTER.md and bench/results/router.json. ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import asyncpg  # type: ignore[import-untyped, unused-ignore]
import orjson
import uvloop
from helpdesk_router.models import WAITING
from helpdesk_router.routing.assignment import autocommit_connection
from helpdesk_router.routing.distribution import Distributor, Routed, Waiting
from helpdesk_router.routing.policies import DEFAULT_MAX_LOAD
from helpdesk_service import heap
from helpdesk_service.db import make_engine
from helpdesk_ticket_client import TicketApiClient, ticket_api_session

from bench.cpu import CpuWindow
from bench.machine import describe
from bench.poster import Poster
from bench.procs import (
    BIN,
    PG_STATEMENTS_SETTINGS,
    ROOT,
    postgres_and_ticket_api,
    postmaster_pid,
    scratch_dir,
)
from bench.rules import at_rate, fetch, filler_rule, pg_counters, pipeline, top_statements

SCRIPT = str(Path(__file__).resolve())
MAX_LOAD = DEFAULT_MAX_LOAD["chat"]
# Closed chats per agent in the router's rows before the decisions phase (their history).
HISTORY_PER_AGENT = 300
# Rules the rule engine evaluates on the tickets' events during the latency phase (as many
# as bench/rules.py's end-to-end run has).
LATENCY_RULES = 500


def log(message: str) -> None:
    print(f"[router {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def created_through(
    http: aiohttp.ClientSession, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with http.post(path, json=body) as response:
        if response.status != 201:
            raise RuntimeError(f"{path}: {response.status} {await response.text()}")
        result: dict[str, Any] = await response.json()
        return result


async def seed_directory(
    http: aiohttp.ClientSession, departments: int, agents: int
) -> tuple[list[str], list[tuple[uuid.UUID, list[uuid.UUID]]]]:
    """Departments and agents online on chat, spread evenly, through ticket-api: the
    department ids and (agent, departments)."""
    department_ids = [
        (await created_through(http, "/v1/departments", {"name": f"Department {n}"}))["id"]
        for n in range(departments)
    ]
    agent_rows: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
    for n in range(agents):
        department = department_ids[n % departments]
        agent = await created_through(
            http,
            "/v1/agents",
            {
                "name": f"Agent {n}",
                "email": f"agent{n}@example.com",
                "department_ids": [department],
                "availability": {"chat": "online"},
            },
        )
        agent_rows.append((uuid.UUID(agent["id"]), [uuid.UUID(department)]))
    log(f"{departments} departments, {agents} agents")
    return department_ids, agent_rows


async def seed(
    api_url: str, admin: str, db_url: str, departments: int, agents: int, tickets: int
) -> list[dict[str, Any]]:
    """Departments and agents (online on chat) and chat tickets through ticket-api; the
    router's agent and waiting-ticket rows as its handlers write them. The tickets (id,
    department, version), in creation order."""
    headers = {"Authorization": f"Bearer {admin}"}
    async with aiohttp.ClientSession(api_url, headers=headers) as http:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            return await created_through(http, path, body)

        department_ids, agent_rows = await seed_directory(http, departments, agents)

        created: list[dict[str, Any]] = []
        queue = list(range(tickets))

        async def create() -> None:
            while queue:
                n = queue.pop(0)
                created.append(
                    await post(
                        "/v1/tickets",
                        {
                            "subject": f"chat {n}",
                            "channel": "chat",
                            "department_id": department_ids[n % departments],
                            "customer": {"email": f"c{n % 100}@example.com"},
                        },
                    )
                )

        await asyncio.gather(*(create() for _ in range(16)))
        log(f"{tickets} chat tickets")

    connection = await asyncpg.connect(db_url.replace("+asyncpg", ""))
    try:
        now = datetime.now(UTC)
        await connection.executemany(
            "INSERT INTO routing.agent (id, department_ids, availability, active, changed_at) "
            'VALUES ($1, $2, \'{"chat": "online"}\', true, $3)',
            [(agent_id, departments_of, now) for agent_id, departments_of in agent_rows],
        )
        await connection.executemany(
            "INSERT INTO routing.ticket (id, department_id, channel, state, version, created_at) "
            "VALUES ($1, $2, 'chat', 'waiting', $3, $4)",
            [
                (
                    uuid.UUID(t["id"]),
                    uuid.UUID(t["department_id"]),
                    t["version"],
                    datetime.fromisoformat(t["created_at"]),
                )
                for t in created
            ],
        )
        await seed_history(connection, agent_rows, now)
    finally:
        await connection.close()
    created.sort(key=lambda t: t["created_at"])
    return [
        {"id": t["id"], "department_id": t["department_id"], "version": t["version"]}
        for t in created
    ]


async def seed_history(
    connection: Any, agent_rows: list[tuple[uuid.UUID, list[uuid.UUID]]], now: datetime
) -> None:
    """``HISTORY_PER_AGENT`` closed chats per agent in the router's rows, as its handlers
    leave a resolved ticket (``closed``, no agent, its last assignment kept), written
    directly before the window: an account in production has years of them, and a
    decision's cost must be judged beside them. Vacuumed and analysed, as a table of that
    size is in production (autovacuum would otherwise do it during the window)."""
    await connection.execute(
        "INSERT INTO routing.ticket "
        "(id, department_id, channel, agent_id, state, version, created_at, assigned_at) "
        "SELECT gen_random_uuid(), a.department_ids[1], 'chat', NULL, 'closed', 4, "
        "$2::timestamptz - (n || ' hours')::interval, "
        "$2::timestamptz - (n || ' hours')::interval + interval '5 minutes' "
        "FROM unnest($1::uuid[]) AS agent(id) JOIN routing.agent AS a USING (id), "
        "generate_series(1, $3) AS n",
        [agent_id for agent_id, _ in agent_rows],
        now,
        HISTORY_PER_AGENT,
    )
    await connection.execute("VACUUM ANALYZE routing.ticket")
    log(f"{HISTORY_PER_AGENT} closed chats of history per agent")


async def route(distributor: Distributor, db: Any, ticket: Waiting) -> Routed:
    """One decision as the worker takes it for a ticket event (handlers/tickets.py), the
    event's own upsert of the ticket's row aside: the waiting ticket's row locked, the
    decision and reservation in that transaction, the commit, then the write-back."""
    async with db.transaction():
        locked = await db.fetchval(
            f"SELECT version FROM routing.ticket WHERE id = $1 AND state = '{WAITING}' FOR UPDATE",
            ticket.id,
        )
        if locked != ticket.version:
            return Routed("unrouted", None)
        routed = await distributor.decide(db, ticket, now=datetime.now(UTC), event_id=None)
    return await distributor.write_back(db, routed)


async def drive(
    db_url: str, api_url: str, key: str, tickets: list[Waiting], concurrency: int
) -> None:
    """One router instance: route ``tickets`` with ``concurrency`` decisions in flight.
    Once started (imports, pool and ticket-api connections open) it prints ``ready`` and
    waits for ``go`` on stdin, so that the parent times decisions, not two interpreters
    starting; then prints {"decisions", "started", "ended" (epoch seconds), "cpu_seconds"}
    and stays until stdin closes, so the parent reads its CPU from /proc."""
    engine = make_engine(
        db_url, application_name="router-bench", pool_size=concurrency, max_overflow=0
    )
    http = ticket_api_session(api_url, connections=concurrency)
    distributor = Distributor(TicketApiClient(http, key))
    queue = list(tickets)
    decisions = 0
    go = asyncio.Event()

    async def worker() -> None:
        nonlocal decisions
        async with autocommit_connection(engine) as db:
            await go.wait()
            while queue:
                ticket = queue.pop(0)
                await route(distributor, db, ticket)
                decisions += 1

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    # Every worker holds its connection: the pool is open before the clock starts.
    while engine.pool.checkedout() < concurrency:  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    # As the worker does once started (helpdesk_service.worker): what the process keeps is
    # moved out of the cyclic collector's sight, so its collections walk the decisions'
    # objects alone.
    heap.enable()
    heap.settle()
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    go.set()
    await asyncio.gather(*workers)
    ended = time.time()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    print(
        json.dumps(
            {
                "decisions": decisions,
                "started": started,
                "ended": ended,
                "cpu_seconds": cpu_seconds,
            }
        ),
        flush=True,
    )
    await loop.run_in_executor(None, sys.stdin.read)
    await http.close()
    await engine.dispose()


async def check(db_url: str) -> dict[str, int]:
    """Capacity violations and double assignments, from ticket-api's own tables."""
    connection = await asyncpg.connect(db_url.replace("+asyncpg", ""))
    try:
        over = await connection.fetchval(
            "SELECT count(*) FROM (SELECT agent_id FROM tickets.ticket "
            "WHERE agent_id IS NOT NULL GROUP BY agent_id HAVING count(*) > $1) o",
            MAX_LOAD,
        )
        twice = await connection.fetchval(
            "SELECT count(*) FROM (SELECT ticket_id FROM tickets.ticket_history "
            "WHERE field = 'agent_id' GROUP BY ticket_id HAVING count(*) > 1) t"
        )
        assigned = await connection.fetchval(
            "SELECT count(*) FROM tickets.ticket WHERE agent_id IS NOT NULL"
        )
        decided = await connection.fetchval("SELECT count(*) FROM routing.decision")
        mismatched = await connection.fetchval(
            "SELECT count(*) FROM routing.ticket r JOIN tickets.ticket t ON t.id = r.id "
            "WHERE r.agent_id IS DISTINCT FROM t.agent_id"
        )
    finally:
        await connection.close()
    return {
        "capacity_violations": int(over),
        "assigned_twice": int(twice),
        "assigned": int(assigned),
        "decisions_stored": int(decided),
        "router_rows_disagreeing_with_ticket_api": int(mismatched),
    }


async def run(quick: bool, pg_statements: bool = False) -> dict[str, Any]:
    """The decisions phase; ``pg_statements``: with pg_stat_statements loaded, PostgreSQL's
    busiest statements in the measured window, per decision."""
    departments, agents = (10, 200) if quick else (50, 1000)
    # More tickets than slots, so the later decisions meet full agents and queue.
    tickets = agents * MAX_LOAD + agents // 2
    # As many decisions in flight per instance as the worker handles events at once
    # (ROUTER_MAX_IN_FLIGHT's default).
    concurrency = 16
    workdir = scratch_dir("router-bench-")
    async with postgres_and_ticket_api(
        workdir,
        "helpdesk-router",
        pg_settings=PG_STATEMENTS_SETTINGS if pg_statements else None,
    ) as stack:
        pg, api_url, service = stack.pg, stack.api_url, stack.service_key
        dsn = pg.dsn_for(pg.database)
        ids = await seed(api_url, stack.admin_key, pg.url, departments, agents, tickets)
        shares = [ids[0::2], ids[1::2]]
        drivers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                SCRIPT,
                "--drive",
                "--db",
                pg.url,
                "--api",
                api_url,
                "--key",
                service,
                "--concurrency",
                str(concurrency),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
            )
            for _ in shares
        ]
        for driver, share in zip(drivers, shares, strict=True):
            assert driver.stdin is not None
            driver.stdin.write(json.dumps(share).encode() + b"\n")
        for driver in drivers:
            assert driver.stdout is not None
            assert (await driver.stdout.readline()).strip() == b"ready"
        window = CpuWindow(
            {
                "ticket_api": [stack.api.pid],
                "postgres": [postmaster_pid(pg)],
                "routers": [driver.pid for driver in drivers],
            }
        )
        if pg_statements:
            await fetch(
                dsn,
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
                "SELECT pg_stat_statements_reset()",
            )
        counters = await pg_counters(dsn)
        window.start()
        started = time.perf_counter()
        for driver in drivers:
            assert driver.stdin is not None
            driver.stdin.write(b"go\n")
        results = []
        for driver in drivers:
            assert driver.stdout is not None
            results.append(json.loads(await driver.stdout.readline()))
        wall = time.perf_counter() - started
        cpu = window.stop()
        counted = await pg_counters(dsn)
        for driver in drivers:
            assert driver.stdin is not None
            driver.stdin.close()
            await driver.wait()
        # From the first decision of either instance to the last.
        deciding = max(r["ended"] for r in results) - min(r["started"] for r in results)
        cpu_seconds = sum(r["cpu_seconds"] for r in results)
        decisions = sum(r["decisions"] for r in results)
        statements = (
            await top_statements(dsn, decisions, least_calls=decisions // 20)
            if pg_statements
            else None
        )
        checks = await check(pg.url)
        machine = describe(workdir)
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "departments": departments,
        "agents": agents,
        "tickets": tickets,
        "router_instances": 2,
        "decisions_in_flight_per_instance": concurrency,
        "decisions": decisions,
        "wall_seconds": round(wall, 2),
        "deciding_seconds": round(deciding, 2),
        "decisions_per_second": round(decisions / deciding, 1),
        "router_cpu_ms_per_decision": round(cpu_seconds * 1000 / decisions, 2),
        # Over the whole window (the routers' start included): what each decision cost the
        # processes it needs, and what other users of the machine took meanwhile.
        "ticket_api_cpu_ms_per_decision": round(cpu["ticket_api"] * 1000 / decisions, 2),
        "postgres_cpu_ms_per_decision": round(cpu["postgres"] * 1000 / decisions, 2),
        "machine_busy_fraction": round(cpu["machine_busy_fraction"], 2),
        "other_processes_cpu_seconds": round(cpu["foreign"], 1),
        "cpu_window_seconds": round(cpu["window_s"], 1),
        # Everyone's, ticket-api's included.
        "pg_commits_per_decision": round((counted["commits"] - counters["commits"]) / decisions, 2),
        "wal_bytes_per_decision": round((counted["wal_bytes"] - counters["wal_bytes"]) / decisions),
        **checks,
        **({"pg_statements": statements} if statements is not None else {}),
    }


async def latency(quick: bool, rate: float, seconds: float, rules: int) -> dict[str, Any]:
    """Chat tickets posted at ``rate`` through ticket-api with the whole pipeline running as
    real processes (ticket-api, its relay, the broker, the rule engine's worker evaluating
    ``rules`` rules that never match, and one router worker); latency from ticket creation
    to the router's assignment, both stamped by ticket-api (``tickets.ticket.created_at``
    and the ``agent_id`` history row)."""
    departments, agents = (10, 200) if quick else (50, 1000)
    workdir = scratch_dir("router-latency-")
    async with pipeline(workdir, "helpdesk-router") as started:
        procs, pg, broker, env = started.procs, started.pg, started.broker, started.env
        admin, api_port, rules_port = started.admin_key, started.api_port, started.rules_port
        headers = {"Authorization": f"Bearer {admin}"}
        rng = random.Random(11)
        async with aiohttp.ClientSession(headers=headers) as http:
            for i in range(rules):
                await created_through(
                    http, f"http://127.0.0.1:{rules_port}/v1/rules", filler_rule(i, rng)
                )
        async with aiohttp.ClientSession(f"http://127.0.0.1:{api_port}", headers=headers) as http:
            department_ids, _ = await seed_directory(http, departments, agents)
        procs.start("rule-worker", [str(BIN / "helpdesk-rule-engine"), "worker"], env)
        procs.start("router-worker", [str(BIN / "helpdesk-router"), "worker"], env)
        db = await asyncpg.connect(pg.dsn_for(pg.database))
        poster = Poster("127.0.0.1", api_port, headers)
        posted: list[str] = []

        async def assigned() -> int:
            count: int = await db.fetchval(
                "SELECT count(*) FROM tickets.ticket WHERE agent_id IS NOT NULL"
            )
            return count

        async def post(i: int) -> None:
            body = orjson.dumps(
                {
                    "subject": f"chat {i}",
                    "channel": "chat",
                    "department_id": department_ids[i % departments],
                    "customer": {"email": f"c{i % 500}@example.com"},
                }
            )
            status, answer = await poster.post("/v1/tickets", body)
            if status != 201:
                raise RuntimeError(f"posting a ticket: {status} {answer[:300]!r}")
            posted.append(orjson.loads(answer)["id"])

        async def all_assigned(count: int, timeout: float) -> None:
            async with asyncio.timeout(timeout):
                while await assigned() < count:
                    await asyncio.sleep(0.2)

        # Warm up: the workers have joined their groups, pools are full, statements are
        # prepared, before the measured run.
        warm = int(rate * 2)
        await post(-1)
        await all_assigned(1, 120)
        await at_rate(rate, warm, post)
        await all_assigned(1 + warm, 120)
        posted.clear()
        total = int(rate * seconds)
        log(f"latency: {rules} rules, posting {total} chat tickets at {rate:.0f}/s")
        processes = list(procs.by_name)
        window = CpuWindow(
            {
                **{name: [p.pid] for name, p in procs.by_name.items()},
                "postgres": [postmaster_pid(pg)],
                "broker": [broker.pid or 0],
            }
        )
        window.start()
        sent_for = await at_rate(rate, total, lambda i: post(warm + i))
        await all_assigned(1 + warm + total, 120)
        cpu = window.stop()
        poster.close()
        rows = await db.fetch(
            "SELECT extract(epoch FROM h.occurred_at - t.created_at) * 1000 AS ms "
            "FROM tickets.ticket AS t JOIN tickets.ticket_history AS h "
            "ON h.ticket_id = t.id AND h.field = 'agent_id' AND h.actor_kind = 'router' "
            "WHERE t.id = ANY($1::uuid[])",
            posted,
        )
        await db.close()
    latencies = sorted(float(r["ms"]) for r in rows)
    return {
        "rate_per_s": rate,
        "posted_per_s": round(total / sent_for, 1),
        "tickets": total,
        "assigned_by_router": len(latencies),
        "rules": rules,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "max_ms": round(latencies[-1], 1),
        "cpu_ms_per_ticket": {
            name: round(cpu[name] * 1000 / total, 2)
            for name in (*processes, "postgres", "broker", "load_generator")
        },
        "machine_busy_fraction": round(cpu["machine_busy_fraction"], 2),
        "other_processes_cpu_seconds": round(cpu["foreign"], 1),
        "cpu_window_seconds": round(cpu["window_s"], 1),
    }


def report(result: dict[str, Any]) -> str:
    decided, timed = result["decisions"], result["latency"]
    machine = decided["machine"]
    cpu = timed["cpu_ms_per_ticket"]
    spent = (
        decided["router_cpu_ms_per_decision"]
        + decided["ticket_api_cpu_ms_per_decision"]
        + decided["postgres_cpu_ms_per_decision"]
    )
    bound = int(machine["nproc"]) * 1000 / spent
    pipeline = " + ".join(f"{name} {ms}" for name, ms in cpu.items())
    return f"""# Router benchmark

`make bench` runs `bench/router.py` (`python bench/router.py --quick` for a smoke run;
`--phase decisions` or `--phase latency` for one part). Latest run: {decided["at"]},
{machine["nproc"]} cores ({machine["cpu_model"]}), commit {machine["git_head"]}.

## Decisions per second

{decided["departments"]} departments, {decided["agents"]} agents (online on chat, maximum
load {MAX_LOAD}), {decided["tickets"]} chat tickets created through ticket-api, then routed
by {decided["router_instances"]} router processes at once
({decided["decisions_in_flight_per_instance"]} decisions in flight each), every decision
the worker's real path: the reserving transaction (ticket row; policy, agents and loads
in one statement; the choice; the winner's row; the reservation, only if the winner's load
and turn are still as read, with the explained decision), then the write-back through
ticket-api (a real process, 2 workers, on the same machine; the ticket client sends the
write-backs in flight as batch requests), whose answer is recorded together with the
answers of the other decisions in flight.

| figure | value |
|---|---|
| decisions | {decided["decisions"]} in {decided["deciding_seconds"]} s |
| decisions per second | **{decided["decisions_per_second"]}** (target ≥ 1,000) |
| router CPU per decision | {decided["router_cpu_ms_per_decision"]} ms |
| ticket-api CPU per decision | {decided["ticket_api_cpu_ms_per_decision"]} ms |
| PostgreSQL CPU per decision | {decided["postgres_cpu_ms_per_decision"]} ms |
| assignments | {decided["assigned"]} (capacity {decided["agents"] * MAX_LOAD}) |
| agents over {MAX_LOAD} tickets (ticket-api's tickets) | {decided["capacity_violations"]} |
| tickets assigned twice (ticket-api's history) | {decided["assigned_twice"]} |
| router rows disagreeing with ticket-api | {decided["router_rows_disagreeing_with_ticket_api"]} |
| machine busy / other processes' CPU | {_shared(decided)} |

The decisions per second are taken over the window from the first decision of either
router process to the last; both processes have started (imports, pools) before it opens and
stay until it closes, so PostgreSQL's figure includes the routers' own sessions (runs before
2026-12-07 04:00 counted those sessions as other users' and showed about half of it). Every
decision costs CPU in three processes: {spent:.2f} ms in all (router + ticket-api +
PostgreSQL above); `--pg-statements` lists PostgreSQL's share by statement
(docs/router.md). On {machine["nproc"]} cores with nothing else
running, that bounds the rate at about {bound:.0f} decisions/s; the 1,000/s the issue asks
for needs the three together under {int(machine["nproc"])} ms per decision. The write-back
through ticket-api (an HTTP request and ticket-api's own transaction, history and outbox)
is most of the latency of a decision; the router holds no lock across it
(routing/assignment.py), so decisions in one department no longer wait for each other's
write-backs.

## Ticket created → assigned

Chat tickets posted at {timed["rate_per_s"]:g}/s (achieved {timed["posted_per_s"]}/s) for
{timed["tickets"]} tickets through ticket-api, with every process of the pipeline running:
ticket-api, its relay, the broker, the rule engine's worker evaluating {timed["rules"]}
rules on every event, and one router worker. Latency from the ticket's creation to the
router's assignment, both as ticket-api stamped them.

| figure | value |
|---|---|
| assigned by the router | {timed["assigned_by_router"]} of {timed["tickets"]} |
| p50 | {timed["p50_ms"]} ms |
| p99 | **{timed["p99_ms"]} ms** (target ≤ 250) |
| max | {timed["max_ms"]} ms |
| CPU per ticket (ms) | {pipeline} |
| machine busy / other processes' CPU | {_shared(timed)} |

"Other processes" are everything on the machine outside the benchmark's own processes:
on the shared development machine, other work running at the same time.
"""


def _shared(phase: dict[str, Any]) -> str:
    return (
        f"{phase['machine_busy_fraction']:.0%} / {phase['other_processes_cpu_seconds']} "
        f"CPU-seconds in {phase['cpu_window_seconds']} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--phase", choices=("decisions", "latency"), action="append", help="default: both"
    )
    parser.add_argument(
        "--rate", type=float, help="tickets per second in the latency phase (default 100)"
    )
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="load pg_stat_statements and report PostgreSQL's busiest statements per decision "
        "(decisions phase)",
    )
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=16, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        tickets = [
            Waiting(uuid.UUID(t["id"]), uuid.UUID(t["department_id"]), "chat", t["version"])
            for t in json.loads(sys.stdin.readline())
        ]
        # On uvloop, as the router's worker runs (helpdesk_service.cli).
        uvloop.run(drive(args.db, args.api, args.key, tickets, args.concurrency))
        return 0
    phases = args.phase or ["decisions", "latency"]
    result: dict[str, Any] = {}
    if "decisions" in phases:
        result["decisions"] = asyncio.run(run(args.quick, args.pg_statements))
        log(json.dumps(result["decisions"]))
    if "latency" in phases:
        rate, seconds = (20.0, 10.0) if args.quick else (100.0, 20.0)
        rate = args.rate or rate
        result["latency"] = asyncio.run(latency(args.quick, rate, seconds, LATENCY_RULES))
        log(json.dumps(result["latency"]))
    out = Path(__file__).resolve().parent
    (out / "results").mkdir(exist_ok=True)
    (out / "results" / "router.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if not args.quick and len(phases) == 2:
        (out / "ROUTER.md").write_text(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
