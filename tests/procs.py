"""What tests that kill and stop real processes read from /proc."""

from __future__ import annotations

import time
from pathlib import Path


def _stat_fields(pid: int) -> list[str]:
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def cpu_ticks(pid: int) -> int:
    """The CPU time the process used so far, in clock ticks (user + system)."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12])


def exited(pid: int, timeout: float = 10) -> bool:
    """Whether the process exits within `timeout` (an unreaped zombie counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = _stat_fields(pid)[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False
