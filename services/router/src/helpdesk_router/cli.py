"""``helpdesk-router serve | migrate``: ``serve`` runs the routing admin API."""

from __future__ import annotations

from pathlib import Path

from helpdesk_service.cli import ServiceCli

from .config import Settings

SERVICE = ServiceCli(
    name="helpdesk-router",
    settings=Settings,
    app="helpdesk_router.main:create_app",
    migrations=Path(__file__).resolve().parent / "migrations",
)
main = SERVICE.main
migrate = SERVICE.migrate

if __name__ == "__main__":
    main()
