"""``helpdesk-scheduler serve | ticker | migrate``.

``serve`` runs the admin API (time rules, previews, ticks on demand); ``ticker`` runs a
tick every ``SCHEDULER_TICK_SECONDS`` and publishes the notifier requests fired rules
queued. Several tickers may run: one ticks at a time (an advisory lock), the others skip.
"""

from __future__ import annotations

from pathlib import Path

from helpdesk_service.cli import ServiceCli

from .config import Settings
from .ticks.ticker import run_ticker

SERVICE = ServiceCli(
    name="helpdesk-scheduler",
    settings=Settings,
    app="helpdesk_scheduler.main:create_app",
    migrations=Path(__file__).resolve().parent / "migrations",
    commands={"ticker": run_ticker},
)
main = SERVICE.main
migrate = SERVICE.migrate

if __name__ == "__main__":
    main()
