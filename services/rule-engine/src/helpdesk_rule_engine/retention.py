"""What the rule engine keeps only for a while (pruned by the worker with
``helpdesk_service.retention.Pruner``):

- ``rules.evaluation`` (the traces behind ``GET /v1/tickets/{id}/evaluations``): kept
  ``RULE_ENGINE_EVALUATION_RETENTION_DAYS`` (30). Past that, "why did or didn't this rule
  fire?" has no answer for the event any more.
- ``rules.processed_event`` (the worker's dedupe marks) and ``rules.rule_firing`` (the loop
  guard): kept ``RULE_ENGINE_DEDUPE_RETENTION_DAYS`` (30). An event delivered again after its
  mark is gone would be evaluated again, so this must be longer than the broker can still
  hand an event out: the tickets topic's ``retention.ms`` plus ``segment.ms`` (Kafka deletes
  whole segments; 7 + 7 days by default).

0 keeps a table's rows for ever. Each table has a BRIN index on its time column
(migration 0006).
"""

from __future__ import annotations

from helpdesk_service.retention import Expiry, kept_for


def expiries(*, evaluations_days: float, dedupe_days: float) -> list[Expiry]:
    evaluations, dedupe = kept_for(evaluations_days), kept_for(dedupe_days)
    return [
        Expiry("rules.evaluation", "evaluated_at", evaluations),
        Expiry("rules.processed_event", "processed_at", dedupe),
        Expiry("rules.rule_firing", "fired_at", dedupe),
    ]
