"""Forgetting, on schedule, what the rule engine keeps only for a while.

Three tables grow with every event and are pruned by age:

- ``rules.evaluation`` (the traces behind ``GET /v1/tickets/{id}/evaluations``): kept
  ``RULE_ENGINE_EVALUATION_RETENTION_DAYS`` (30). Past that, "why did or didn't this rule
  fire?" has no answer for the event any more.
- ``rules.processed_event`` (the worker's dedupe marks) and ``rules.rule_firing`` (the loop
  guard): kept ``RULE_ENGINE_DEDUPE_RETENTION_DAYS`` (30). An event delivered again after its
  mark is gone would be evaluated again, so this must be longer than the broker can still
  hand an event out: the tickets topic's ``retention.ms`` plus ``segment.ms`` (Kafka deletes
  whole segments; 7 + 7 days by default).

0 keeps a table's rows for ever. The worker prunes at start and every
``RULE_ENGINE_RETENTION_INTERVAL_SECONDS`` (3600), in batches of a few thousand rows, each its
own short transaction, so pruning never holds locks that the event path waits for. Each
table has a BRIN index on its time column (migration 0006): tiny, nearly free to maintain on
append-only rows, and enough to find the old end of the table. Several workers pruning at
once only repeat each other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from helpdesk_events import Clock
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

PRUNED = Counter("rules_retention_pruned_rows_total", "Rows removed by age", ["table"])


@dataclass(frozen=True)
class Retention:
    """How long rows are kept; None keeps them for ever."""

    evaluations: timedelta | None
    dedupe: timedelta | None

    @classmethod
    def from_days(cls, evaluations: float, dedupe: float) -> Retention:
        def keep(days: float) -> timedelta | None:
            return timedelta(days=days) if days > 0 else None

        return cls(evaluations=keep(evaluations), dedupe=keep(dedupe))


# (table, time column, which retention applies)
_TABLES = (
    ("rules.evaluation", "evaluated_at", "evaluations"),
    ("rules.processed_event", "processed_at", "dedupe"),
    ("rules.rule_firing", "fired_at", "dedupe"),
)


def _delete(table: str, column: str) -> str:
    # By physical row address: the inner scan finds a batch through the BRIN index, the
    # outer delete goes straight to those rows.
    return (
        f"DELETE FROM {table} WHERE ctid = ANY (ARRAY("
        f"SELECT ctid FROM {table} WHERE {column} < :cutoff LIMIT :batch))"
    )


class Pruner:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        retention: Retention,
        *,
        interval: float = 3600.0,
        batch: int = 5000,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._retention = retention
        self._interval = interval
        self._batch = batch

    async def prune_once(self) -> dict[str, int]:
        """Remove every row past its table's retention: rows removed, by table."""
        now = self._clock.now()
        removed: dict[str, int] = {}
        for table, column, kind in _TABLES:
            keep: timedelta | None = getattr(self._retention, kind)
            if keep is None:
                continue
            removed[table] = await self._prune(table, column, now - keep)
        return removed

    async def _prune(self, table: str, column: str, cutoff: object) -> int:
        statement = text(_delete(table, column))
        total = 0
        while True:
            async with self._engine.begin() as conn:
                result = await conn.execute(statement, {"cutoff": cutoff, "batch": self._batch})
            count = result.rowcount
            total += count
            PRUNED.labels(table).inc(count)
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
