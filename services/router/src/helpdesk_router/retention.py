"""What the router keeps only for a while (pruned by the worker with
``helpdesk_service.retention.Pruner``):

- ``routing.decision`` (the explanations behind ``GET /v1/tickets/{id}/routing``) and
  ``routing.offer`` (ring-all offers, long decided): kept ``ROUTER_DECISION_RETENTION_DAYS``
  (30).
- ``routing.processed_event`` (the worker's dedupe marks): kept
  ``ROUTER_DEDUPE_RETENTION_DAYS`` (30), longer than the broker can still hand an event out
  (the topics' ``retention.ms`` plus ``segment.ms``, 7 + 7 days by default). An event
  delivered again after its mark is gone is still harmless: rows only move to newer
  versions.

0 keeps a table's rows for ever. Each table has an index on its time column.
"""

from __future__ import annotations

from helpdesk_service.retention import Expiry, kept_for


def expiries(*, decisions_days: float, dedupe_days: float) -> list[Expiry]:
    return [
        Expiry("routing.decision", "decided_at", kept_for(decisions_days)),
        Expiry("routing.offer", "offered_at", kept_for(decisions_days)),
        Expiry("routing.processed_event", "processed_at", kept_for(dedupe_days)),
    ]
