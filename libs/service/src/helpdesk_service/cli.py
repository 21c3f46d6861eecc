"""``helpdesk-<service> serve | migrate | <command> …``: one ``main`` for every service.

A service declares its commands once in its ``cli.py``::

    SERVICE = ServiceCli.of_package("helpdesk_router", Settings, {"worker": WORKER})
    main, migrate = SERVICE.main, SERVICE.migrate

(``of_package`` finds the console script, app factory and migrations where every service
keeps them; a service laid out otherwise names them to ``ServiceCli(...)`` itself.)

``serve`` runs the app factory (``helpdesk_service.serve``), ``migrate`` brings the service's
schema to the newest revision, and every other command is an async function of the settings
and a stop event that SIGINT/SIGTERM set, run on uvloop. Logging is configured once, here.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import heap
from .logs import configure_logging
from .settings import ServiceSettings

# A long-running command: runs until the event is set.
Command = Callable[[Any, asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class ServiceCli:
    # The console script's name ("helpdesk-ticket-api").
    name: str
    settings: type[ServiceSettings]
    # The app factory, "package.module:create_app".
    app: str
    # The service's Alembic scripts, inside its package.
    migrations: Path
    commands: Mapping[str, Command] = field(default_factory=dict)

    @classmethod
    def of_package(
        cls,
        package: str,
        settings: type[ServiceSettings],
        commands: Mapping[str, Command] | None = None,
    ) -> ServiceCli:
        """The CLI of the service in ``package`` ("helpdesk_sla_tracker"), laid out as every
        service is: console script "helpdesk-sla-tracker", app factory ``main:create_app``
        and Alembic scripts in ``migrations/``, both inside the package."""
        package_file = importlib.import_module(package).__file__
        if package_file is None:
            raise ValueError(f"{package} is a namespace package: name its migrations folder")
        return cls(
            name=package.replace("_", "-"),
            settings=settings,
            app=f"{package}.main:create_app",
            migrations=Path(package_file).resolve().parent / "migrations",
            commands=dict(commands or {}),
        )

    def migrate(self, settings: ServiceSettings) -> None:
        from .migrations import upgrade

        upgrade(self.migrations, settings.database_url)

    def main(self, argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=self.name)
        parser.add_argument("command", choices=["serve", "migrate", *self.commands])
        args = parser.parse_args(argv)
        settings = self.settings()
        configure_logging(settings.log_level)
        if args.command == "migrate":
            self.migrate(settings)
            return
        heap.enable()
        if args.command == "serve":
            from .serve import serve

            serve(
                self.app,
                settings.host,
                settings.port,
                settings.workers,
                log_level=settings.log_level,
                access_log=settings.access_log,
            )
            return
        import uvloop

        uvloop.run(_until_signalled(self.commands[args.command], settings))


async def _until_signalled(command: Command, settings: ServiceSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await command(settings, stop)
