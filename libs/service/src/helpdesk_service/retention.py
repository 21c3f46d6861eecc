"""Forgetting rows by age, on schedule: what a service keeps only for a while.

A service lists its ``Expiry`` rules (table, time column, how long to keep) and runs a
``Pruner`` in one of its long-lived processes: it prunes at start and every ``interval``
seconds, in batches (``batch`` rows, each its own short transaction, so pruning never
holds locks that the request or event path waits for). The time column wants an index
that finds the old end of the table: for rows written in time order and never updated, a
BRIN index is a few pages for millions of rows and costs next to nothing per insert.
Several processes pruning at once only repeat each other's deletes. The clock is
injected: tests move it instead of waiting.

Where it runs: the rule-engine worker (evaluations, dedupe marks, rule firings; see
docs/rule-engine.md#retention), the ticket-api relay (idempotency keys; see
docs/ticket-api.md#idempotency-keys) and the scheduler ticker (its ledger's finished
firings; see docs/scheduler.md#ledger-retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from helpdesk_events import Clock
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

PRUNED = Counter("retention_pruned_rows_total", "Rows removed by age", ["table"])


def kept_for(days: float) -> timedelta | None:
    """A retention setting in days: 0 keeps for ever (None)."""
    return timedelta(days=days) if days > 0 else None


@dataclass(frozen=True)
class Expiry:
    """Rows of ``table`` (schema-qualified) whose ``column`` is older than ``keep`` go;
    ``keep`` None keeps them for ever. ``only_where`` (an SQL condition on the row) keeps
    rows that do not meet it whatever their age, such as work not finished yet."""

    table: str
    column: str
    keep: timedelta | None
    only_where: str | None = None

    def delete(self) -> str:
        # By physical row address: the inner scan finds a batch through the time column's
        # index, the outer delete goes straight to those rows.
        condition = f"{self.column} < :cutoff"
        if self.only_where is not None:
            condition = f"{condition} AND ({self.only_where})"
        return (
            f"DELETE FROM {self.table} WHERE ctid = ANY (ARRAY("
            f"SELECT ctid FROM {self.table} WHERE {condition} LIMIT :batch))"
        )


class Pruner:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        expiries: Sequence[Expiry],
        *,
        interval: float = 3600.0,
        batch: int = 5000,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._expiries = list(expiries)
        self._interval = interval
        self._batch = batch

    async def prune_once(self) -> dict[str, int]:
        """Remove every row past its table's retention: rows removed, by table (tables kept
        for ever are left out)."""
        now = self._clock.now()
        return {
            expiry.table: await self._prune(expiry, now - expiry.keep)
            for expiry in self._expiries
            if expiry.keep is not None
        }

    async def _prune(self, expiry: Expiry, cutoff: datetime) -> int:
        statement = text(expiry.delete())
        total = 0
        while True:
            async with self._engine.begin() as conn:
                result = await conn.execute(statement, {"cutoff": cutoff, "batch": self._batch})
            count = result.rowcount
            total += count
            PRUNED.labels(expiry.table).inc(count)
            if count < self._batch:
                return total

    async def run(self, stop: asyncio.Event) -> None:
        """Prune now and every ``interval`` seconds until ``stop``. A failed round (the
        database away) is logged and tried again at the next one."""
        while not stop.is_set():
            try:
                removed = await self.prune_once()
            except Exception:
                log.exception("retention: pruning failed; next attempt in %g s", self._interval)
            else:
                if any(removed.values()):
                    log.info("retention: removed %s", removed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
