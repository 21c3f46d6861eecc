"""CPU per write-back, one request each (``POST /v1/tickets/{id}/actions``) against the
ticket client's batches (``POST /v1/tickets/actions``), back to back on the same ticket-api.

A real PostgreSQL and ticket-api (two workers, as bench/run.py serves it); tickets created
through ticket-api first; then in each round, for fresh tickets, one write-back each (its
own idempotency key) from ``--callers`` concurrent callers: once as one request per
write-back (what the client sent before), once through ``TicketApiClient.apply_actions``
(batched). The write-back (``--action``): ``add_tags``, or ``assign``, the router's (chat
tickets of a customer in a department, each transferred to an agent of it with the
ticket's version as ``expected_version``, the actor named). Measured from /proc: the
CPU-seconds ticket-api, PostgreSQL and this process (the caller) used per write-back, and
the WAL PostgreSQL wrote per write-back: bytes, and full-page images among them (each
phase starts after a checkpoint, so each pays its pages' first-touch images);
``--pg-statements``: PostgreSQL's busiest statements of each phase, per write-back;
``--against``: another checkout's ticket-api beside this one, each phase run on both back
to back (an A/B under the same load, which a shared machine's noise otherwise swamps);
``--schema-ab REVISION``: the same A/B of a
migration, each phase run on the newest schema and on ticket-api's schema downgraded to
REVISION (on the same database, so both sides write into the same table). Not part of
``make test``; prints a JSON line per phase and writes bench/results/writeback_batch.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helpdesk_ticket_api

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import orjson
from alembic import command
from alembic.config import Config
from helpdesk_devstack.ports import free_port
from helpdesk_service.migrations import upgrade
from helpdesk_ticket_client import ActionBatch, TicketApiClient, ticket_api_session
from helpdesk_ticket_client.actions import ActionActor, TransferAction

from bench.cpu import CpuWindow
from bench.procs import (
    BIN,
    PG_STATEMENTS_SETTINGS,
    TicketApiStack,
    postgres_and_ticket_api,
    postmaster_pid,
    scratch_dir,
)
from bench.router import created_through
from bench.rules import fetch, top_statements

WriteBack = Callable[[uuid.UUID, ActionBatch, str], Awaitable[int]]
# What a phase writes back to a ticket (its id and version at creation) and the phase's name.
BatchFor = Callable[["Ticket", str], ActionBatch]
# The agents of the ``assign`` write-backs, one per ticket in turn.
AGENTS = 8
# ticket-api's Alembic scripts, for ``--schema-ab``.
TICKET_API_MIGRATIONS = Path(helpdesk_ticket_api.__file__).resolve().parent / "migrations"
# The WAL PostgreSQL has written: its bytes and, of its records, the full-page images (a
# page's first change after a checkpoint), which swamp the rest on a small phase.
WAL_WRITTEN = "SELECT wal_bytes AS bytes, wal_fpi AS fpi FROM pg_stat_wal"
# A machine other work keeps busy can hold a request queued for seconds: measured, not
# timed out.
REQUEST_TIMEOUT = 120.0


def log(message: str) -> None:
    print(f"[writeback-batch {time.strftime('%H:%M:%S')}] {message}", flush=True)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Ticket:
    id: uuid.UUID
    version: int


async def create_tickets(
    api_url: str, admin: str, count: int, body: Callable[[int], dict[str, Any]]
) -> list[Ticket]:
    async with ticket_api_session(api_url, timeout=REQUEST_TIMEOUT) as http:
        headers = {"Authorization": f"Bearer {admin}"}

        async def create(n: int) -> Ticket:
            async with http.post("v1/tickets", json=body(n), headers=headers) as response:
                if response.status != 201:
                    raise RuntimeError(f"creating a ticket: {response.status}")
                created = await response.json()
                return Ticket(uuid.UUID(created["id"]), created["version"])

        tickets: list[Ticket] = []
        for start in range(0, count, 200):
            tickets += await asyncio.gather(
                *(create(n) for n in range(start, min(count, start + 200)))
            )
        return tickets


def email_ticket(n: int) -> dict[str, Any]:
    return {"subject": f"Ticket {n}", "channel": "email"}


def tagging(ticket: Ticket, phase: str) -> ActionBatch:
    return ActionBatch.model_validate(
        {"actor": {"kind": "service"}, "actions": [{"type": "add_tags", "tags": [phase]}]}
    )


async def assigning(api_url: str, admin: str) -> tuple[Callable[[int], dict[str, Any]], BatchFor]:
    """The router's write-back: a department with ``AGENTS`` agents online on chat; the
    tickets to create there (chat, a customer each of a hundred) and each one's assignment
    to an agent in turn, made for the version it was created at."""
    async with ticket_api_session(api_url, timeout=REQUEST_TIMEOUT) as http:
        http.headers["Authorization"] = f"Bearer {admin}"
        department = (await created_through(http, "v1/departments", {"name": "Chat"}))["id"]
        agents = [
            uuid.UUID(
                (
                    await created_through(
                        http,
                        "v1/agents",
                        {
                            "name": f"Agent {n}",
                            "email": f"agent{n}@example.com",
                            "department_ids": [department],
                            "availability": {"chat": "online"},
                        },
                    )
                )["id"]
            )
            for n in range(AGENTS)
        ]

    def ticket(n: int) -> dict[str, Any]:
        return {
            "subject": f"chat {n}",
            "channel": "chat",
            "department_id": department,
            "customer": {"email": f"c{n % 100}@example.com"},
        }

    def assignment(ticket: Ticket, phase: str) -> ActionBatch:
        return ActionBatch(
            actor=ActionActor(kind="router", id="router", name="Router (least loaded)"),
            actions=[TransferAction(type="transfer", agent_id=agents[ticket.id.int % AGENTS])],
            causation_id=uuid.uuid4(),
            expected_version=ticket.version,
        )

    return ticket, assignment


def one_request_each(http: aiohttp.ClientSession, key: str) -> WriteBack:
    """A write-back as the client sent it before batches: one request of its own."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def send(ticket_id: uuid.UUID, batch: ActionBatch, idempotency_key: str) -> int:
        async with http.post(
            f"v1/tickets/{ticket_id}/actions",
            data=batch.model_dump_json(by_alias=True, exclude_unset=True),
            headers={**headers, "Idempotency-Key": idempotency_key},
        ) as response:
            await response.read()
            return response.status

    return send


def through_the_client(client: TicketApiClient) -> WriteBack:
    """A write-back as the client sends it now: with the others waiting, in batches."""

    async def send(ticket_id: uuid.UUID, batch: ActionBatch, idempotency_key: str) -> int:
        return (await client.apply_actions(ticket_id, batch, idempotency_key)).status_code

    return send


async def measured(
    server: str,
    name: str,
    write_back: WriteBack,
    tickets: list[Ticket],
    batch_for: BatchFor,
    callers: int,
    window: CpuWindow,
    dsn: str,
    pg_statements: bool,
) -> dict[str, Any]:
    """Every ticket written back once by ``callers`` concurrent callers: CPU and WAL per
    write-back."""
    todo = iter(tickets)
    refused = 0

    async def caller() -> None:
        nonlocal refused
        for ticket in todo:
            status = await write_back(ticket.id, batch_for(ticket, name), f"{name}:{ticket.id}")
            if status != 200:
                refused += 1

    if pg_statements:
        await fetch(
            dsn,
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
            "SELECT pg_stat_statements_reset()",
        )
    [wal_start] = await fetch(dsn, "CHECKPOINT", WAL_WRITTEN)
    window.start()
    own_before = own_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    wall = time.perf_counter() - started
    caller_cpu = own_cpu_seconds() - own_before
    cpu = window.stop()
    [wal_end] = await fetch(dsn, WAL_WRITTEN)
    count = len(tickets)
    result: dict[str, Any] = {
        "server": server,
        "phase": name,
        "write_backs": count,
        "refused": refused,
        "callers": callers,
        "wall_seconds": round(wall, 2),
        "ticket_api_cpu_ms": round(cpu["ticket_api"] * 1000 / count, 3),
        "postgres_cpu_ms": round(cpu["postgres"] * 1000 / count, 3),
        "caller_cpu_ms": round(caller_cpu * 1000 / count, 3),
        "total_cpu_ms": round((cpu["ticket_api"] + cpu["postgres"] + caller_cpu) * 1000 / count, 3),
        "wal_bytes": round(float(wal_end["bytes"] - wal_start["bytes"]) / count),
        "wal_page_images": round((wal_end["fpi"] - wal_start["fpi"]) / count, 2),
        "machine_busy_fraction": round(cpu["machine_busy_fraction"], 2),
    }
    log(json.dumps(result))
    if pg_statements:
        result["pg_statements"] = await top_statements(dsn, count, least_calls=count // 20)
    return result


@dataclass(frozen=True)
class Server:
    """A ticket-api the phases run against: ``this`` checkout's, or ``--against``'s; and
    the revision of ticket-api's schema they run on (None: the newest; ``--schema-ab``)."""

    name: str
    url: str
    pid: int
    schema_revision: str | None = None


def ticket_schema_at(database_url: str, revision: str | None) -> None:
    """ticket-api's schema brought to ``revision`` (None: the newest) from either side."""
    if revision is None:
        upgrade(TICKET_API_MIGRATIONS, database_url)
        return
    config = Config()
    config.set_main_option("script_location", str(TICKET_API_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    command.downgrade(config, revision)


def start_against(stack: TicketApiStack, source: Path) -> Server:
    """ticket-api from another checkout (``source``, e.g. main's) on the same database, for
    an A/B where both meet the same load on the machine. Its schema must be this one's."""
    port = free_port()
    sources = sorted(str(src) for src in source.glob("*/*/src"))
    if not sources:
        raise SystemExit(f"--against {source}: no libs/*/src or services/*/src in it")
    env = {
        **stack.env,
        "TICKET_API_PORT": str(port),
        # Before the workspace's own packages (which .pth files add after it).
        "PYTHONPATH": os.pathsep.join(sources),
    }
    api = stack.procs.start("ticket-api-against", [str(BIN / "helpdesk-ticket-api"), "serve"], env)
    url = f"http://127.0.0.1:{port}"
    api.wait_http_ok(f"{url}/readyz")
    return Server("against", url, api.pid)


async def run(
    per_phase: int,
    rounds: int,
    callers: int,
    action: str,
    pg_statements: bool,
    against: Path | None,
    schema_ab: str | None,
) -> list[dict[str, Any]]:
    async with postgres_and_ticket_api(
        scratch_dir("writeback-batch-bench-"),
        pg_settings=PG_STATEMENTS_SETTINGS if pg_statements else None,
    ) as stack:
        servers = [Server("this", stack.api_url, stack.api.pid)]
        if against is not None:
            servers.append(await asyncio.to_thread(start_against, stack, against))
        if schema_ab is not None:
            servers.append(Server(f"schema {schema_ab}", stack.api_url, stack.api.pid, schema_ab))
        log(", ".join(f"ticket-api {server.name}: {server.pid}" for server in servers))
        ticket_body: Callable[[int], dict[str, Any]] = email_ticket
        batch_for: BatchFor = tagging
        if action == "assign":
            ticket_body, batch_for = await assigning(stack.api_url, stack.admin_key)
        tickets = iter(
            await create_tickets(
                stack.api_url, stack.admin_key, per_phase * 2 * rounds * len(servers), ticket_body
            )
        )
        dsn = stack.pg.dsn_for(stack.pg.database)
        results = []
        sessions = [ticket_api_session(server.url, timeout=REQUEST_TIMEOUT) for server in servers]
        try:
            phases = [
                (
                    server,
                    one_request_each(http, stack.service_key),
                    through_the_client(TicketApiClient(http, stack.service_key)),
                    CpuWindow({"ticket_api": [server.pid], "postgres": [postmaster_pid(stack.pg)]}),
                )
                for server, http in zip(servers, sessions, strict=True)
            ]
            for round_ in range(rounds):
                for name in ("alone", "batched"):
                    # Both servers back to back, first one then the other: an A/B under
                    # the same load.
                    for server, alone, batched, window in phases[:: -1 if round_ % 2 else 1]:
                        write_back = alone if name == "alone" else batched
                        share = [next(tickets) for _ in range(per_phase)]
                        if schema_ab is not None:
                            await asyncio.to_thread(
                                ticket_schema_at, stack.env["DATABASE_URL"], server.schema_revision
                            )
                        results.append(
                            await measured(
                                server.name,
                                name,
                                write_back,
                                share,
                                batch_for,
                                callers,
                                window,
                                dsn,
                                pg_statements,
                            )
                        )
        finally:
            for http in sessions:
                await http.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-backs", type=int, default=5000, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--action", choices=("add_tags", "assign"), default="add_tags")
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="load pg_stat_statements and report PostgreSQL's busiest statements per write-back",
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/main main`): its ticket-api serves "
        "beside this one on the same database and every phase runs on both, back to back",
    )
    parser.add_argument(
        "--schema-ab",
        metavar="REVISION",
        help="every phase also runs with ticket-api's schema downgraded to this revision "
        "(e.g. 0005: before migration 0006), back to back on the same database and server",
    )
    args = parser.parse_args(argv)
    if args.against is not None and args.schema_ab is not None:
        parser.error("--against and --schema-ab: one A/B at a time")
    results = asyncio.run(
        run(
            args.write_backs,
            args.rounds,
            args.callers,
            args.action,
            args.pg_statements,
            args.against,
            args.schema_ab,
        )
    )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "writeback_batch.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
