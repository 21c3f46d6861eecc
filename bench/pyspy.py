"""Optional CPU profile of the API worker with py-spy, summarised by layer and function.

py-spy is not a project dependency: pass ``--py-spy PATH``, set ``BENCH_PY_SPY``, or have
``py-spy`` on PATH (e.g. ``uv venv /tmp/spy && VIRTUAL_ENV=/tmp/spy uv pip install py-spy``).
Samples are taken only while a thread holds the GIL (``--gil``), so the shares are shares
of the time the API process spends running Python (C extensions called from Python
included), not of wall time; ``--nonblocking`` keeps the profiler from pausing the server.
SQLAlchemy's asyncio layer runs ORM work in greenlets whose stacks do not show the request
handler above them, so per-function inclusive shares of handler code are lower bounds; the
per-layer self shares are exact.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

# Path segments that name a layer of the stack, in the order they are looked for.
LAYERS = (
    "helpdesk_ticket_api",
    "helpdesk_service",
    "helpdesk_events",
    "sqlalchemy",
    "asyncpg",
    "pydantic_core",
    "pydantic",
    "fastapi",
    "starlette",
    "uvicorn",
    "anyio",
    "prometheus_client",
    "orjson",
    "email_validator",
    "asyncio",
    "uvloop",
    "json",
    "logging",
    "typing",
    "uuid",
)


def find(explicit: str | None) -> str | None:
    candidate = explicit or os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")
    if candidate and Path(candidate).exists():
        return candidate
    return None


def record(
    py_spy: str, pid: int, duration: int, out: Path, log: Path, rate: int = 200
) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        return subprocess.Popen(
            [
                py_spy, "record", "--pid", str(pid), "--duration", str(duration),
                "--rate", str(rate), "--format", "raw", "--subprocesses", "--nonblocking", "--gil",
                "--output", str(out),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _frame_name(frame: str) -> tuple[str, str]:
    """('func (dir/file.py)', layer) for a py-spy frame 'func (path:line)'."""
    func, _, location = frame.rpartition(" (")
    location = location.rstrip(")")
    path = location.rpartition(":")[0] or location
    segments = path.replace("\\", "/").split("/")
    layer = next((name for name in LAYERS if name in segments or name + ".py" in segments), "")
    if not layer and "sqlalchemy" in location:
        layer = "sqlalchemy"  # its generated wrapper functions have no file
    if not layer:
        layer = "other: " + (segments[0] if len(segments) > 1 else path)
    return f"{func} ({'/'.join(segments[-2:])})", layer


def summarize(raw_path: Path, top: int = 20) -> dict[str, Any]:
    """Shares (% of CPU samples) by layer and by function, self and inclusive."""
    self_by_layer: Counter[str] = Counter()
    incl_by_layer: Counter[str] = Counter()
    self_by_func: Counter[str] = Counter()
    incl_by_func: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        count = int(count_text)
        total += count
        named = [_frame_name(f) for f in frames]
        self_by_layer[named[-1][1]] += count
        self_by_func[named[-1][0]] += count
        for layer in {layer for _, layer in named}:
            incl_by_layer[layer] += count
        for item in set(named):
            incl_by_func[item] += count

    def pct(value: int) -> float:
        return round(100 * value / total, 1) if total else 0.0

    def funcs_of(layers: tuple[str, ...], n: int) -> list[tuple[str, float]]:
        items = [(f, v) for (f, layer), v in incl_by_func.most_common() if layer in layers]
        return [(f, pct(v)) for f, v in items[:n]]

    return {
        "samples": total,
        "self_by_layer_pct": [(k, pct(v)) for k, v in self_by_layer.most_common(16)],
        "inclusive_by_layer_pct": [(k, pct(v)) for k, v in incl_by_layer.most_common(16)],
        "top_self_functions_pct": [(k, pct(v)) for k, v in self_by_func.most_common(top)],
        "top_inclusive_service_functions_pct": funcs_of(
            ("helpdesk_ticket_api", "helpdesk_events"), top
        ),
        "top_inclusive_sqlalchemy_functions_pct": funcs_of(("sqlalchemy",), 12),
    }
