"""What the benchmark ran on: CPU, memory, disk, software versions."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from helpdesk_devstack.postgres import find_pg_bin

from bench.procs import ROOT

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "asyncpg",
    "pydantic",
    "aiokafka",
    "aiohttp",
    "uvloop",
    "orjson",
)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _filesystem(path: Path) -> str:
    best = ("", "unknown", "unknown")
    target = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, fstype = line.split()[:3]
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(
            best[0]
        ):
            best = (mount, fstype, device)
    return f"{best[1]} on {best[2]}"


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10
    )
    return result.stdout.strip()


def fsync_latency_ms(directory: Path, rounds: int = 100) -> dict[str, float]:
    """Latency of an 8 KiB write + fdatasync, which bounds a durable commit's latency."""
    path = directory / "fsync-probe"
    samples = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = os.urandom(8192)
        for i in range(rounds):
            os.pwrite(fd, block, (i % 16) * 8192)
            started = time.perf_counter()
            os.fdatasync(fd)
            samples.append(1000 * (time.perf_counter() - started))
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p99_ms": samples[int(0.99 * (len(samples) - 1))],
    }


def describe(workdir: Path) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    postgres = subprocess.run(
        [str(find_pg_bin() / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = _git("status", "--porcelain", "--", "services", "libs")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_mem_total_gib(), 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgres": postgres,
        "filesystem": _filesystem(workdir),
        "fsync_8k": fsync_latency_ms(workdir),
        "packages": versions,
        "git_head": _git("rev-parse", "--short", "HEAD"),
        "service_code_uncommitted_changes": bool(dirty),
    }
