"""CPU accounting from /proc: how many CPU-seconds each process tree used in a window.

On a 2-core machine shared by PostgreSQL, the API and the load generator, the CPU each of
them burns per request is the most useful "where does the time go" figure: the sum bounds
the throughput the machine can reach (2 CPU-seconds per second).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    comm: str
    cpu_ticks: int
    # When the process started (clock ticks after boot): a pid reused by a new process has
    # another. The name is no test: a kernel worker's changes with the work it does.
    started: int


def _read_stat(pid_dir: Path) -> ProcStat | None:
    try:
        raw = (pid_dir / "stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: it ends at the last ')'.
    left, _, right = raw.rpartition(")")
    comm = left.partition("(")[2]
    fields = right.split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15, starttime 22.
    return ProcStat(
        int(pid_dir.name),
        int(fields[1]),
        comm,
        int(fields[11]) + int(fields[12]),
        int(fields[19]),
    )


def snapshot() -> dict[int, ProcStat]:
    stats = {}
    for pid_dir in Path("/proc").glob("[0-9]*"):
        stat = _read_stat(pid_dir)
        if stat is not None:
            stats[stat.pid] = stat
    return stats


def tree(stats: Mapping[int, ProcStat], roots: Iterable[int]) -> set[int]:
    """The roots and all their descendants."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found: set[int] = set()
    todo = [root for root in roots if root in stats]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


MACHINE_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_ticks() -> dict[str, int]:
    """Jiffies of all CPUs since boot by kind, from the first line of /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    return dict(zip(MACHINE_FIELDS, (int(v) for v in first[1:9]), strict=False))


@dataclass
class CpuWindow:
    """CPU-seconds used by named process trees between `start()` and `stop()`.

    Processes that exit inside the window lose their last ticks; the trees measured here
    (server processes, pooled backends) live across the window.
    """

    groups: dict[str, list[int]]
    _before: dict[int, ProcStat] | None = None
    _machine_before: dict[str, int] | None = None
    top_others: list[str] = field(default_factory=list)
    per_process: dict[str, list[float]] = field(default_factory=dict)

    def start(self) -> None:
        self._before = snapshot()
        self._machine_before = machine_ticks()

    def stop(self) -> dict[str, float]:
        assert self._before is not None, "start() first"
        after = snapshot()
        machine_after = machine_ticks()
        result: dict[str, float] = {}

        def used(pid: int) -> int:
            now = after.get(pid)
            if now is None:
                return 0
            before = self._before.get(pid) if self._before else None
            # A pid reused by a new process inside the window starts from zero.
            same = before is not None and before.started == now.started
            return now.cpu_ticks - (before.cpu_ticks if same and before else 0)

        named: set[int] = {os.getpid()}
        ours = used(os.getpid())
        # This process: the load generator (and whatever else the benchmark runs in it).
        result["load_generator"] = ours / CLK_TCK
        for name, roots in self.groups.items():
            pids = tree(after, roots) | tree(self._before, roots)
            named |= pids
            ticks = {pid: used(pid) for pid in pids}
            ours += sum(ticks.values())
            result[name] = sum(ticks.values()) / CLK_TCK
            # The busiest processes of the group, e.g. how evenly uvicorn's workers share.
            self.per_process[name] = [
                round(t / CLK_TCK, 2) for t in sorted(ticks.values(), reverse=True)[:8] if t
            ]
        # Kernel threads (children of kthreadd, pid 2) mostly do our own I/O: their own line.
        kernel = tree(after, [2])
        result["kernel_threads"] = sum(used(pid) for pid in kernel) / CLK_TCK
        # Everything else that ran: other users of the machine distort the figures.
        others = sorted(
            ((used(pid), pid) for pid in after if pid not in named and pid not in kernel),
            reverse=True,
        )
        result["other_processes"] = sum(t for t, _ in others) / CLK_TCK
        self.top_others = [
            f"{after[pid].comm} ({pid}): {t / CLK_TCK:.2f}s" for t, pid in others[:5] if t > 0
        ]
        assert self._machine_before is not None
        delta = {k: machine_after[k] - self._machine_before.get(k, 0) for k in machine_after}
        total = sum(delta.values())
        idle = delta.get("idle", 0) + delta.get("iowait", 0)
        # Machine-wide busy CPU-seconds: every process, the kernel's interrupt work and time
        # the hypervisor gave to other guests (steal).
        result["machine_busy"] = (total - idle) / CLK_TCK
        result["machine_busy_fraction"] = (total - idle) / total if total else 0.0
        result["machine_user"] = (delta.get("user", 0) + delta.get("nice", 0)) / CLK_TCK
        result["machine_system"] = delta.get("system", 0) / CLK_TCK
        result["machine_irq"] = (delta.get("irq", 0) + delta.get("softirq", 0)) / CLK_TCK
        result["machine_steal"] = delta.get("steal", 0) / CLK_TCK
        result["machine_cpus"] = float(os.cpu_count() or 1)
        # The window's length: every CPU's ticks, of every kind, over the CPUs.
        result["window_s"] = total / CLK_TCK / result["machine_cpus"]
        # Busy time none of our processes account for: other users' processes, including
        # short-lived ones that exited inside the window (invisible in /proc afterwards),
        # and the hypervisor's steal. Per-process and machine-wide counters are sampled
        # differently (about +-0.1 CPU), and on a guest the per-process times can absorb
        # part of the steal: never less than the steal itself.
        result["foreign"] = max(
            result["machine_steal"],
            result["machine_busy"]
            - result["machine_irq"]
            - result["kernel_threads"]
            - (ours / CLK_TCK),
        )
        return result


class StealSampler:
    """The hypervisor's steal second by second, sampled from /proc/stat in the event loop.

    A run's average hides what decides a p99: the worst 100 ms of a 10-second run. A host
    that takes half the machine for one second leaves the average at 5 % and the p99 in
    ruins; the worst second shows it."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.per_second: list[float] = []  # CPUs stolen in each interval
        self.started_at = 0.0  # wall clock (time.time())
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.started_at = time.time()
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.per_second

    async def _sample(self) -> None:
        before = machine_ticks()
        started = time.monotonic()
        while True:
            await asyncio.sleep(self.interval)
            now, after = time.monotonic(), machine_ticks()
            stolen = (after["steal"] - before["steal"]) / CLK_TCK
            self.per_second.append(round(stolen / (now - started), 3))
            before, started = after, now
