"""``helpdesk-scheduler serve | ticker | migrate``.

``serve`` runs the admin API (time rules, previews, ticks on demand); ``ticker`` runs a
tick every ``SCHEDULER_TICK_SECONDS``, publishes the notifier requests fired rules
queued and prunes the ledger's old finished firings (``retention.py``). Several tickers
may run: one ticks at a time (an advisory lock), the others skip.
"""

from __future__ import annotations

from helpdesk_service.cli import ServiceCli

from .config import Settings
from .ticks.ticker import run_ticker

SERVICE = ServiceCli.of_package("helpdesk_scheduler", Settings, {"ticker": run_ticker})
main, migrate = SERVICE.main, SERVICE.migrate

if __name__ == "__main__":
    main()
