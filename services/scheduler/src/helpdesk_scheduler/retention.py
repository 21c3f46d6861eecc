"""What the scheduler keeps only for a while (pruned by the ticker with
``helpdesk_service.retention.Pruner``):

- ``scheduler.firing`` (the ledger), finished rows (``fired`` or ``failed``: settled) whose
  episode anchor is older than ``SCHEDULER_LEDGER_RETENTION_DAYS`` (400). Claimed rows not
  settled yet are never pruned: the next tick resends their batches.

A ledger row is what stops a rule firing twice in one episode, so a pruned row lets its
rule fire again on that episode if the rule's conditions still hold for it. The default
outlasts every time condition shorter than 400 days since the anchor; a rule whose
conditions need more than that (or that matches without a time condition on a ticket left
untouched that long) may fire once more on such an old episode. Raise the setting for
such rules; 0 keeps the ledger for ever. The index ``ix_firing_settled_anchor`` (migration
0002) finds the old end of the settled rows.
"""

from __future__ import annotations

from helpdesk_service.retention import Expiry, kept_for


def expiries(*, ledger_days: float) -> list[Expiry]:
    return [
        Expiry(
            "scheduler.firing",
            "anchor",
            kept_for(ledger_days),
            only_where="settled_at IS NOT NULL",
        )
    ]
