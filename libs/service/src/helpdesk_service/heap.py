"""Keeping Python's cyclic garbage collector out of the latency tail.

A service process holds a large, long-lived heap (the application, SQLAlchemy's metadata,
pydantic's validators, a compiled rule set: 100,000-170,000 objects) and makes short-lived
objects by the thousand for every request or event. With CPython's default settings a
full collection walks the whole heap: measured at up to 100 ms in ticket-api and the rule
worker under load, which is the whole latency budget of an event.

``settle()``, called once what the process keeps is loaded (and again after it loads more,
e.g. a new rule set), moves every object alive at that moment out of the collector's
sight (``gc.freeze()``), so a full collection walks only what was made since. (Raising
the young generations' thresholds instead made each young collection long enough to show
in the tail: they stay at CPython's defaults.)

It acts in processes started by a service command (``enable()``, inherited by uvicorn's
worker processes through the environment), not in tests that build apps by the hundred.
``HELPDESK_GC_FREEZE=0`` turns it off.
"""

from __future__ import annotations

import gc
import os

ENV = "HELPDESK_GC_FREEZE"


def enable() -> None:
    """For the command that runs a service: settle() acts from now on, in this process and
    its children (unless HELPDESK_GC_FREEZE says otherwise)."""
    os.environ.setdefault(ENV, "1")


def settle() -> None:
    """Freeze what is alive now (when enabled).

    One full collection first, over everything frozen before too: what was kept and is no
    longer (a replaced rule set) is freed, not frozen for good. That pause (tens of ms)
    is why this runs at start-up and after rare changes, not per request."""
    if os.environ.get(ENV) != "1":
        return
    gc.unfreeze()
    gc.collect()
    gc.freeze()
