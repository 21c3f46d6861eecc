"""What the notifier keeps only for a while (pruned by the worker with
``helpdesk_service.retention.Pruner``):

- ``notify.delivery`` once delivered or dead (``finished_at``), with its attempt log
  (``notify.delivery_attempt``, deleted with it): kept ``NOTIFIER_DELIVERY_RETENTION_DAYS``
  (30). Pending deliveries are never pruned. A delivery's row is also its dedupe mark, so
  this must outlast the broker's retention (7 + 7 days by default), as the dedupe marks do.
- ``notify.agent_notification`` (read or not): kept ``NOTIFIER_NOTIFICATION_RETENTION_DAYS``
  (90). Events older than a day make none, so a pruned one is never made again.
- ``notify.processed_event`` (the worker's dedupe marks): kept
  ``NOTIFIER_DEDUPE_RETENTION_DAYS`` (30), longer than the broker can still hand an event
  out (the topics' ``retention.ms`` plus ``segment.ms``).

0 keeps a table's rows for ever. Each time column has an index (migration 0004).
"""

from __future__ import annotations

from helpdesk_service.retention import Expiry, kept_for


def expiries(
    *, deliveries_days: float, notifications_days: float, dedupe_days: float
) -> list[Expiry]:
    return [
        Expiry("notify.delivery", "finished_at", kept_for(deliveries_days)),
        Expiry("notify.agent_notification", "created_at", kept_for(notifications_days)),
        Expiry("notify.processed_event", "processed_at", kept_for(dedupe_days)),
    ]
