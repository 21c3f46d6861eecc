"""``helpdesk-sla-tracker serve | migrate``: the admin API and its schema's migrations."""

from __future__ import annotations

from pathlib import Path

from helpdesk_service.cli import ServiceCli

from .config import Settings

SERVICE = ServiceCli(
    name="helpdesk-sla-tracker",
    settings=Settings,
    app="helpdesk_sla_tracker.main:create_app",
    migrations=Path(__file__).resolve().parent / "migrations",
)
main = SERVICE.main
migrate = SERVICE.migrate

if __name__ == "__main__":
    main()
