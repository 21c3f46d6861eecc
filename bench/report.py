"""Targets, bench/results/latest.json and bench/REPORT.md from one run's results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

THROUGHPUT_TARGET = 1000.0
P99_TARGET_MS = 50.0
RELAY_TARGET = 5000.0


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not math.isnan(value) else None


def _fmt(value: Any, digits: int = 0, unit: str = "") -> str:
    number = _num(value)
    if number is None:
        return "-"
    text = f"{number:,.{digits}f}"
    return f"{text} {unit}".strip()


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    rate = results["config"]["rate_per_s"]
    targets: list[dict[str, Any]] = []
    for api in results.get("api", {}).values():
        workers = api.get("workers", "?")
        opened = api.get("open") or {}
        # The better of the closed loops (keep-alive, and a new connection per request).
        closed = max(
            (api.get(k) or {} for k in ("closed", "closed_no_keepalive")),
            key=lambda run: _num(run.get("throughput_per_s")) or 0.0,
        )
        throughput = _num(closed.get("throughput_per_s"))
        how = "keep-alive" if closed.get("keepalive", True) else "a new connection per request"
        targets.append(
            {
                "name": f"API ticket creation throughput, TICKET_API_WORKERS={workers}",
                "target": f">= {THROUGHPUT_TARGET:,.0f} tickets/s",
                "measured": f"{_fmt(throughput)} tickets/s "
                f"(closed loop, concurrency {closed.get('concurrency', '?')}, {how})",
                "value": throughput,
                "pass": throughput is not None and throughput >= THROUGHPUT_TARGET,
            }
        )
        p99 = _num(opened.get("p99_ms"))
        achieved = _num(opened.get("achieved_rate_per_s"))
        failed = opened.get("failed", 0)
        kept_up = achieved is not None and achieved >= 0.98 * rate and failed == 0
        targets.append(
            {
                "name": f"API p99 latency at {rate:,.0f}/s, TICKET_API_WORKERS={workers}",
                "target": f"p99 <= {P99_TARGET_MS:.0f} ms",
                "measured": f"p99 {_fmt(p99, 1)} ms at {_fmt(achieved)}/s achieved"
                + (f", {failed} failed" if failed else ""),
                "value": p99,
                "pass": p99 is not None and p99 <= P99_TARGET_MS and kept_up,
            }
        )
    relay = results.get("relay")
    if relay is not None:
        drain = relay.get("drain") or {}
        kafka = relay.get("kafka") or {}
        per_s = _num(drain.get("events_per_s"))
        complete = bool(drain.get("drained")) and kafka.get("distinct_event_ids") == drain.get(
            "events"
        )
        targets.append(
            {
                "name": "Outbox relay publishing rate",
                "target": f">= {RELAY_TARGET:,.0f} events/s",
                "measured": f"{_fmt(per_s)} events/s ({_fmt(drain.get('events'))} events"
                + (", all in Kafka)" if complete else ", NOT all confirmed in Kafka)"),
                "value": per_s,
                "pass": per_s is not None and per_s >= RELAY_TARGET and complete,
            }
        )
    return targets


def write(results: dict[str, Any], out_json: Path, report_md: Path) -> None:
    results["targets"] = evaluate(results)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    report_md.parent.mkdir(parents=True, exist_ok=True)
    report_md.write_text(render(results))


# -- Markdown ------------------------------------------------------------------------------


def _per_ticket_ms(run: dict[str, Any], name: str) -> float | None:
    cpu = run.get("cpu_s") or {}
    done = run.get("completed_ok") or 0
    seconds = _num(cpu.get(name))
    return 1000 * seconds / done if seconds is not None and done else None


def _runs(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    runs = [
        (f"API, {api.get('workers', '?')} worker(s)", api)
        for api in results.get("api", {}).values()
    ]
    if "raw" in results:
        runs.append(("raw SQL (asyncpg)", results["raw"]))
    return runs


def _machine(results: dict[str, Any]) -> list[str]:
    m = results.get("machine", {})
    pg = results.get("postgres_settings", {})
    fsync = m.get("fsync_8k", {})
    packages = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    return [
        "| | |",
        "| --- | --- |",
        f"| CPUs (nproc) | {m.get('nproc')} x {m.get('cpu_model')} |",
        f"| Memory | {m.get('memory_gib')} GiB |",
        f"| Kernel | Linux {m.get('kernel')} |",
        f"| Disk (PostgreSQL data) | {m.get('filesystem')}; 8 KiB write+fdatasync: median "
        f"{_fmt(fsync.get('median_ms'), 2)} ms, p99 {_fmt(fsync.get('p99_ms'), 2)} ms |",
        f"| Python | {m.get('python')} |",
        f"| PostgreSQL | {m.get('postgres')} |",
        f"| PostgreSQL durability | fsync={pg.get('fsync')}, synchronous_commit="
        f"{pg.get('synchronous_commit')}, full_page_writes={pg.get('full_page_writes')} "
        "(LocalPostgres fast=False) |",
        f"| Packages | {packages} |",
        f"| Code | git {m.get('git_head')}"
        + (
            " plus uncommitted changes in services/ and libs/ (work in progress)"
            if m.get("service_code_uncommitted_changes")
            else ""
        )
        + " |",
    ]


def _targets(results: dict[str, Any]) -> list[str]:
    lines = ["| Target | Goal | Measured | Result |", "| --- | --- | --- | --- |"]
    for t in results.get("targets", []):
        verdict = "**pass**" if t["pass"] else "**MISS**"
        lines.append(f"| {t['name']} | {t['target']} | {t['measured']} | {verdict} |")
    return lines


def _creation_table(results: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    lines = [
        f"| Run | closed loop (c={cfg['concurrency']}): tickets/s | p50 | p99 | "
        f"open loop {cfg['rate_per_s']:.0f}/s: achieved/s | p50 | p99 | max | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, run in _runs(results):
        c = run.get("closed") or {}
        o = run.get("open") or {}
        if "error" in run:
            lines.append(f"| {label} | error: {run['error'][:80]} | | | | | | | |")
            continue
        failed = (c.get("failed") or 0) + (o.get("failed") or 0)
        lines.append(
            f"| {label} | {_fmt(c.get('throughput_per_s'))} | {_fmt(c.get('p50_ms'), 1)} ms | "
            f"{_fmt(c.get('p99_ms'), 1)} ms | {_fmt(o.get('achieved_rate_per_s'))} | "
            f"{_fmt(o.get('p50_ms'), 1)} ms | {_fmt(o.get('p99_ms'), 1)} ms | "
            f"{_fmt(o.get('max_ms'), 1)} ms | {failed} |"
        )
    why = [
        f"- {label}: {count} x {' '.join(error.split())}"
        for label, run in _runs(results)
        for loop in ("closed", "open")
        for error, count in ((run.get(loop) or {}).get("exceptions") or {}).items()
    ]
    for label, run in _runs(results):
        c = run.get("closed_no_keepalive")
        if isinstance(c, dict) and c:
            lines.append(
                f"| {label}, new connection per request | {_fmt(c.get('throughput_per_s'))} | "
                f"{_fmt(c.get('p50_ms'), 1)} ms | {_fmt(c.get('p99_ms'), 1)} ms | | | | | "
                f"{c.get('failed', 0)} |"
            )
    extra = [
        (label, run["open_sustainable"])
        for label, run in _runs(results)
        if isinstance(run.get("open_sustainable"), dict)
    ]
    if extra:
        lines += [
            "",
            "Where the API cannot carry the target rate, an open loop at 60 % of its closed-loop "
            "throughput shows the latency it offers at a load it can carry:",
            "",
            "| Run | rate | achieved/s | p50 | p99 | max | failed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label, o in extra:
            lines.append(
                f"| {label} | {_fmt(o.get('target_rate_per_s'))}/s | "
                f"{_fmt(o.get('achieved_rate_per_s'))} | {_fmt(o.get('p50_ms'), 1)} ms | "
                f"{_fmt(o.get('p99_ms'), 1)} ms | {_fmt(o.get('max_ms'), 1)} ms | "
                f"{o.get('failed', 0)} |"
            )
    if why:
        lines += ["", "**Failed requests**, and why:", "", *why]
    return lines


def _ratios(results: dict[str, Any]) -> list[str]:
    raw = results.get("raw") or {}
    rc, ro = raw.get("closed") or {}, raw.get("open") or {}
    lines = []
    for label, api in _runs(results):
        if api is raw:
            continue
        ac, ao = api.get("closed") or {}, api.get("open") or {}
        tput_api, tput_raw = _num(ac.get("throughput_per_s")), _num(rc.get("throughput_per_s"))
        if not tput_api or not tput_raw:
            continue
        parts = [f"throughput raw/API = **{tput_raw / tput_api:.1f}x**"]
        rate = results["config"]["rate_per_s"]
        kept_up = (_num(ao.get("achieved_rate_per_s")) or 0.0) >= 0.98 * rate
        pairs = [("closed-loop p50", ac.get("p50_ms"), rc.get("p50_ms"))]
        if kept_up:
            pairs += [
                ("open-loop p50", ao.get("p50_ms"), ro.get("p50_ms")),
                ("open-loop p99", ao.get("p99_ms"), ro.get("p99_ms")),
            ]
        for name, a, r in pairs:
            a_ms, r_ms = _num(a), _num(r)
            if a_ms and r_ms:
                parts.append(f"{name} API/raw = {a_ms / r_ms:.1f}x")
        if not kept_up:
            parts.append(f"no open-loop ratio: the API could not sustain {rate:,.0f}/s")
        lines.append(f"- {label}: " + "; ".join(parts))
    return lines


def _cpu_table(results: dict[str, Any]) -> list[str]:
    ncpu = results.get("machine", {}).get("nproc") or 1
    lines = [
        "| Run (closed loop) | API processes | PostgreSQL | load generator | kernel threads "
        "| other users (machine minus ours) | whole machine | machine busy | CPU-bound ceiling |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, run in _runs(results):
        c = run.get("closed") or {}
        if not c:
            continue
        cells = [_per_ticket_ms(c, name) for name in ("api", "postgres", "loadgen")]
        kernel = _per_ticket_ms(c, "kernel_threads")
        others = _per_ticket_ms(c, "foreign") or 0.0
        total = _per_ticket_ms(c, "machine_busy")
        busy = _num((c.get("cpu_s") or {}).get("machine_busy_fraction"))
        # What this run's own processes would allow if they had the cores to themselves.
        ceiling = ncpu * 1000 / (total - others) if total and total > others else None
        lines.append(
            f"| {label} | "
            + " | ".join(_fmt(v, 2, "ms") for v in cells)
            + f" | {_fmt(kernel, 2, 'ms')} | {_fmt(others, 2, 'ms')} | {_fmt(total, 2, 'ms')} | "
            f"{_fmt(100 * busy if busy is not None else None)} % | {_fmt(ceiling)} tickets/s |"
        )
    return lines


def _floor(results: dict[str, Any]) -> list[str]:
    lines = []
    for label, run in _runs(results):
        h = run.get("healthz") or {}
        if not h.get("completed_ok"):
            continue
        per = _per_ticket_ms(h, "api")
        lines.append(
            f"- {label}: `GET /healthz` (no database, no auth) at concurrency "
            f"{h.get('concurrency')}: {_fmt(h.get('throughput_per_s'))} requests/s, p50 "
            f"{_fmt(h.get('p50_ms'), 1)} ms, {_fmt(per, 3, 'ms')} of API CPU per request: the "
            "cost of uvicorn + FastAPI + the middleware alone."
        )
    return lines


def _worker_split(results: dict[str, Any]) -> list[str]:
    lines = []
    for label, run in _runs(results):
        if (run.get("workers") or 1) < 2:
            continue
        parts = []
        for kind, what in (
            ("closed", "closed loop, 32 keep-alive connections"),
            ("closed_no_keepalive", "closed loop, a new connection per request"),
            ("open", "open loop"),
        ):
            busiest = ((run.get(kind) or {}).get("cpu_busiest_processes_s") or {}).get("api")
            if busiest is not None:
                shown = ", ".join(f"{v:.2f}" for v in busiest) or "none"
                parts.append(f"{what}: {shown}")
        if parts:
            lines.append(
                f"- {label}: CPU-seconds of the busiest API processes per run: "
                + "; ".join(parts)
                + ". Each worker listens on its own SO_REUSEPORT socket "
                "(helpdesk_service.serve), so the kernel spreads connections over them."
            )
    return lines


def _disturbance(results: dict[str, Any]) -> list[str]:
    lines = []
    for label, run in _runs(results):
        for kind in ("closed", "closed_no_keepalive", "open", "open_sustainable", "healthz"):
            r = run.get(kind) or {}
            attempts = r.get("attempts") or []
            others = _num(r.get("other_processes_cpus"))
            if others is None:
                continue
            if len(attempts) > 1 or others >= 0.15:
                seen = ", ".join(f"{a['other_processes_cpus']:.2f}" for a in attempts)
                top = "; ".join(attempts[-1].get("top_other_processes", [])[:2]) if attempts else ""
                lines.append(
                    f"- {label}, {kind} loop: other users' processes took {seen} CPUs in "
                    f"{len(attempts)} attempt(s); the least disturbed one is reported "
                    f"({others:.2f} CPUs){' - e.g. ' + top if top else ''}."
                )
    return lines


def _transactions(rows: list[dict[str, Any]]) -> int | None:
    """Transactions in the statistics window: COMMITs, else the most frequent statement."""
    commits = [r["calls"] for r in rows if r["query"].strip().upper() == "COMMIT"]
    return commits[0] if commits else max((r["calls"] for r in rows), default=None)


def _per_ticket_statements(run: dict[str, Any]) -> set[str]:
    """The statements run once per ticket (at least every other one), BEGIN/COMMIT aside."""
    rows = (run.get("closed") or {}).get("statements") or []
    tickets = _transactions(rows)
    if not tickets:
        return set()
    return {
        " ".join(r["query"].split())
        for r in rows
        if r["calls"] >= 0.5 * tickets and r["query"].strip().upper() not in ("BEGIN", "COMMIT")
    }


def _statement_check(results: dict[str, Any]) -> list[str]:
    raw = results.get("raw") or {}
    raw_set = _per_ticket_statements(raw)
    if not raw_set:
        return []
    lines = []
    for label, run in _runs(results):
        if run is raw:
            continue
        api_set = _per_ticket_statements(run)
        if not api_set:
            continue
        if api_set == raw_set:
            lines.append(
                f"- {label}: the raw run sends exactly the API's per-ticket statements "
                f"({len(api_set)} besides BEGIN/COMMIT; query texts compared in "
                "pg_stat_statements)."
            )
        else:
            only_api = "; ".join(f"`{q[:100]}...`" for q in sorted(api_set - raw_set))
            only_raw = "; ".join(f"`{q[:100]}...`" for q in sorted(raw_set - api_set))
            lines.append(
                f"- {label}: **the raw transaction no longer matches the API's statements** "
                f"(the service changed; update bench/workload.py). API only: {only_api or '-'}. "
                f"Raw only: {only_raw or '-'}."
            )
    return lines


def _sessions(results: dict[str, Any]) -> list[str]:
    lines = []
    for label, run in _runs(results):
        c = run.get("closed") or {}
        sessions = c.get("new_db_sessions")
        if sessions is None:
            continue
        per_1000 = sessions / max(1, c.get("completed_ok") or 1) * 1000
        churn = (
            ": the connection pool keeps opening connections (each one costs a SCRAM "
            "authentication and a round of asyncpg type introspection)"
            if sessions > 5
            else ""
        )
        lines.append(
            f"- {label}: {sessions:,} new database sessions during the "
            f"{c.get('duration_s', 0):.0f} s closed loop ({per_1000:.1f} per 1,000 tickets)"
            f"{churn}."
        )
    return lines


def _statements(run: dict[str, Any]) -> tuple[list[str], float | None]:
    rows = (run.get("closed") or {}).get("statements") or []
    tickets = _transactions(rows)
    if not rows or not tickets:
        return [], None
    lines = [
        "| Statement | calls/ticket | mean | per ticket |",
        "| --- | ---: | ---: | ---: |",
    ]
    total = 0.0
    for r in rows:
        per_ticket = r["total_ms"] / tickets
        total += per_ticket
        if per_ticket < 0.001:
            continue
        query = r["query"]
        query = query if len(query) <= 90 else query[:87] + "..."
        lines.append(
            f"| `{query.replace('|', '/')}` | {r['calls'] / tickets:.2f} | "
            f"{r['mean_ms']:.3f} ms | {per_ticket:.3f} ms |"
        )
    lines.append(f"| **total server execution time** | | | **{total:.3f} ms** |")
    return lines, total


def _layer_name(layer: str) -> str:
    if layer == "other: helpdesk-ticket-api":
        return "helpdesk-ticket-api (entry point)"
    # Workspace libraries added after the profile's list of layers was written.
    return layer.removeprefix("other: ") if layer.startswith("other: helpdesk_") else layer


def _profile(profile: dict[str, Any]) -> list[str]:
    if not profile:
        return []
    if "skipped" in profile:
        return [f"Profile skipped: {profile['skipped']}."]
    lines = [
        f"py-spy, {profile.get('seconds')} s of the closed loop at "
        f"{_fmt(profile.get('throughput_under_profiler_per_s'))} tickets/s under the profiler, "
        f"{profile.get('samples')} on-CPU samples of the API process.",
        "",
        "| Layer | self | inclusive |",
        "| --- | ---: | ---: |",
    ]
    inclusive = dict(profile.get("inclusive_by_layer_pct", []))
    for layer, pct in profile.get("self_by_layer_pct", [])[:14]:
        shown = inclusive.get(layer)
        lines.append(
            f"| {_layer_name(layer)} | {pct} % | {'-' if shown is None else f'{shown} %'} |"
        )
    lines += ["", "Ticket-api / helpdesk_events functions, inclusive share of the API's CPU:", ""]
    lines += [
        f"- {pct} % `{f}`" for f, pct in profile.get("top_inclusive_service_functions_pct", [])[:14]
    ]
    lines += ["", "SQLAlchemy functions, inclusive share:", ""]
    lines += [
        f"- {pct} % `{f}`"
        for f, pct in profile.get("top_inclusive_sqlalchemy_functions_pct", [])[:8]
    ]
    lines += ["", "Hottest functions (self time):", ""]
    lines += [f"- {pct} % `{f}`" for f, pct in profile.get("top_self_functions_pct", [])[:12]]
    return lines


def _first_profile(results: dict[str, Any]) -> dict[str, Any]:
    for _, run in _runs(results):
        profile = run.get("profile")
        if isinstance(profile, dict) and profile:
            return profile
    return {}


def _relay(results: dict[str, Any]) -> list[str]:
    relay = results.get("relay")
    if relay is None:
        return ["Not run."]
    if "error" in relay:
        return [f"Error: {relay['error']}"]
    d, k, p = relay["drain"], relay["kafka"], relay["preload"]
    cpu = d.get("cpu_s") or {}
    steady = _num(d.get("steady_s")) or 0.0

    def share(name: str) -> str:
        seconds = _num(cpu.get(name))
        return f"{seconds / steady:.2f} CPUs" if seconds is not None and steady else "-"

    return [
        f"{_fmt(d['events'])} `ticket.created` events (encoded by helpdesk_events exactly as the "
        f"API encodes them, mean payload {_fmt(p['payload_bytes_mean'])} bytes) COPYed into "
        f"`tickets.outbox`, then `helpdesk-ticket-api relay` (batch size {relay['batch_size']}) "
        f"started against a topic with {relay['partitions']} partitions.",
        "",
        "| | |",
        "| --- | --- |",
        f"| Steady rate (first batch committed → outbox empty) | **{_fmt(d['events_per_s'])} "
        f"events/s** ({_fmt(d['steady_events'])} events in {_fmt(d['steady_s'], 2)} s) |",
        "| Including relay start-up (process spawn → empty) | "
        f"{_fmt(d['events_per_s_from_spawn'])} events/s ({_fmt(d['total_s_from_spawn'], 2)} s, "
        f"start-up {_fmt(d['startup_s'], 2)} s) |",
        f"| Kafka check (consumer read from the beginning) | {_fmt(k['records_read'])} records, "
        f"{_fmt(k['distinct_event_ids'])} distinct event ids (the broker's end-minus-start "
        f"offsets give {_fmt(k['records_by_offsets'])}: Tansu reports a partition's end offset "
        "as the first offset of its last record batch) |",
        f"| CPU while draining | relay {share('relay')}, PostgreSQL {share('postgres')}, broker "
        f"{share('broker')}, other users {share('foreign')}, machine "
        f"{_fmt(100 * (_num(cpu.get('machine_busy_fraction')) or 0))} % busy |",
    ]


def _notes(results: dict[str, Any]) -> list[str]:
    notes = []
    ncpu = results.get("machine", {}).get("nproc") or 1
    raw = results.get("raw") or {}
    raw_pg = _per_ticket_ms(raw.get("closed") or {}, "postgres")
    for label, run in _runs(results):
        if run is raw:
            continue
        c = run.get("closed") or {}
        api = _per_ticket_ms(c, "api")
        pg = _per_ticket_ms(c, "postgres")
        gen = _per_ticket_ms(c, "loadgen")
        if api is None or pg is None:
            continue
        note = (
            f"{label}: each ticket costs {api:.2f} ms of API CPU and {pg:.2f} ms of PostgreSQL "
            f"CPU (load generator {gen or 0:.2f} ms)"
        )
        api_share = api / (api + pg + (gen or 0))
        note += f"; the API is {100 * api_share:.0f} % of the CPU spent per ticket"
        if raw_pg:
            note += f" (raw SQL needs {raw_pg:.2f} ms of PostgreSQL CPU per ticket)"
        note += (
            f". With {ncpu} cores shared by all three, the CPU alone caps this configuration "
            f"near {ncpu * 1000 / (api + pg + (gen or 0)):,.0f} tickets/s."
        )
        notes.append(note)
    api_rows = [_statements(run)[1] for label, run in _runs(results) if run is not raw]
    raw_total = _statements(raw)[1] if raw else None
    api_totals = [t for t in api_rows if t]
    if api_totals and raw_total:
        notes.append(
            f"PostgreSQL executes the API's statements in {min(api_totals):.2f} to "
            f"{max(api_totals):.2f} ms per ticket versus {raw_total:.2f} ms for the raw "
            "transaction (pg_stat_statements, execution time only, COMMIT included; it "
            "includes waiting for a CPU, so it grows with the load PostgreSQL runs at): the "
            "database does the same work either way; the difference in latency and "
            "throughput is spent in the service's Python code and in the CPU it takes away "
            "from PostgreSQL."
        )
    profile = _first_profile(results)
    if profile and "self_by_layer_pct" in profile:
        top = ", ".join(f"{_layer_name(k)} {v} %" for k, v in profile["inclusive_by_layer_pct"][:8])
        notes.append(f"Inside the API process (py-spy, inclusive shares of its CPU): {top}.")
    return [f"- {n}" for n in notes]


def render(results: dict[str, Any]) -> str:
    cfg = results["config"]
    quick = results.get("quick")
    raw = results.get("raw") or {}
    statement_sections: list[str] = []
    for label, run in _runs(results):
        lines, _ = _statements(run)
        if lines:
            statement_sections += [f"**{label}**, closed loop:", "", *lines, ""]
    profile = _first_profile(results)
    checks = []
    for label, run in _runs(results):
        check = run.get("database_check")
        if check and "tickets_match_201s" in check:
            checks.append(
                f"{label}: {check['ticket']:,} tickets in the database, "
                f"{check['created_201_responses']:,} `201` responses"
                + (" (match)" if check["tickets_match_201s"] else " (MISMATCH)")
            )
        elif check and run is raw:
            checks.append(f"{label}: {check['ticket']:,} tickets, {check['outbox']:,} outbox rows")
    errors = results.get("errors") or []
    out = [
        "# Benchmarks: ticket-api",
        "",
        (
            "> **Smoke run (`--quick`)**: a few seconds per phase, figures not meaningful."
            if quick
            else "Real run of `"
            + cfg.get("command", "bench/run.py")
            + "` (what `make bench` runs); every figure below was measured in that run."
        ),
        f"Run started {results.get('started_at')}, finished {results.get('finished_at', '?')}.",
        "",
        "## Machine",
        "",
        *_machine(results),
        "",
        "PostgreSQL, the API, the load generator (and the idle broker) all share these cores: "
        "every figure includes that contention, which is what a single-machine deployment "
        "sees too. CPU per ticket below shows who takes what.",
        "",
        "## How to reproduce",
        "",
        "```",
        "make bench                       # full run: this report + bench/results/latest.json",
        ".venv/bin/python bench/run.py --quick   # smoke run: bench/results/quick.{md,json}",
        ".venv/bin/python bench/run.py --help    # durations, concurrency, rate, phases",
        "```",
        "",
        "py-spy is optional (not a project dependency): `--py-spy PATH` or `BENCH_PY_SPY` or on "
        "PATH, e.g. `uv venv /tmp/spy && VIRTUAL_ENV=/tmp/spy uv pip install py-spy`.",
        "",
        "What runs: a fresh PostgreSQL cluster in a temporary folder (normal durability, "
        "`fast=False`) and a Tansu broker, both on free ports; a migrated template database "
        "cloned fresh for every phase; `helpdesk-ticket-api serve` (uvicorn, uvloop, httptools, "
        "access log off, default DB pool 20+10 per worker) with `TICKET_API_WORKERS` = "
        f"{', '.join(str(w) for w in cfg['worker_counts'])}. "
        "The load generator is a separate process (uvloop, aiohttp, one keep-alive session, "
        "pre-encoded bodies). Requests are `POST /v1/tickets` from an e-mail with a customer "
        f"(spread over {cfg['customers']:,} customers, so most upserts hit an existing one) "
        "and a ~400-byte first message. Closed loop: "
        f"{cfg['concurrency']} connections, each sending its next request when the previous "
        f"answered, {cfg['warmup_s']:.0f} s warm-up then {cfg['duration_s']:.0f} s measured. "
        f"Open loop: {cfg['rate_per_s']:.0f} requests/s on a fixed schedule, latency measured "
        "from each request's scheduled send time (no coordinated omission). The outbox relay "
        "is not running during the API runs (it is measured on its own below).",
        "",
        "## Targets",
        "",
        *_targets(results),
        "",
        "## Ticket creation: API next to the same SQL on the same PostgreSQL",
        "",
        "The raw-SQL run sends the API's exact statement for a new inbound ticket (one `WITH` "
        "statement: customer upsert, number, ticket, message, history, outbox event; see "
        "bench/workload.py and the statement check below) as an asyncpg prepared statement, at "
        "the same concurrency and rate, from the same kind of separate process.",
        "",
        *_creation_table(results),
        "",
        *_ratios(results),
        "",
        *(["Sanity checks: " + "; ".join(checks) + "."] if checks else []),
        "",
        *_worker_split(results),
        "",
        "Other users of this machine (other engineers' test runs) were measured in every "
        "window (machine-wide busy time minus our processes, kernel threads and interrupts); "
        "a run during which they took 0.15 CPU or more was repeated (up to twice) and the "
        "least disturbed attempt kept:",
        "",
        *(_disturbance(results) or ["- no run was disturbed."]),
        "",
        "## Where the time goes",
        "",
        "CPU per created ticket over the closed-loop window (from /proc; the machine column "
        "counts every process, so it is the honest total):",
        "",
        *_cpu_table(results),
        "",
        *_notes(results),
        "",
        "HTTP stack floor, for scale:",
        "",
        *(_floor(results) or ["- not measured in this run"]),
        "",
        "### PostgreSQL statements (pg_stat_statements)",
        "",
        *(statement_sections or ["pg_stat_statements was not loaded in this run.", ""]),
        *_statement_check(results),
        "",
        "Database sessions (from pg_stat_database) opened during the closed loops:",
        "",
        *(_sessions(results) or ["- not measured in this run"]),
        "",
        "### API process profile",
        "",
        *(_profile(profile) or ["No profile in this run."]),
        "",
        "## Outbox relay",
        "",
        *_relay(results),
        "",
    ]
    if errors:
        out += ["## Errors", ""] + [f"- {e['phase']}: {e['error']}" for e in errors] + [""]
    out += _analysis(results)
    return "\n".join(out)


ANALYSIS = Path(__file__).resolve().parent / "ANALYSIS.md"


def _analysis(results: dict[str, Any]) -> list[str]:
    """The hand-written reading of a run (bench/ANALYSIS.md), flagged when it was written
    for another run than this report's."""
    if not ANALYSIS.exists():
        return []
    text = ANALYSIS.read_text().strip()
    first, _, rest = text.partition("\n")
    written_for = first.removeprefix("<!-- run:").removesuffix("-->").strip()
    lines = ["## Analysis and suggestions", ""]
    if written_for != results.get("started_at"):
        lines += [
            f"> Written for the run started {written_for}, not for the run above: the "
            "reasoning may still hold, the figures quoted are that run's.",
            "",
        ]
    return [*lines, rest.strip(), ""]
