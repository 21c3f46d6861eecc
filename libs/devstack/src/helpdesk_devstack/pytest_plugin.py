"""Session fixtures: a private PostgreSQL cluster and broker for one test run.

Load with `pytest_plugins = ["helpdesk_devstack.pytest_plugin"]`. Both servers live in
fresh temporary directories on free ports, so a `make run` in progress (`.local/`, ports
55432 and 59092) and the test session never disturb each other.
"""

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpdesk_devstack.broker import LocalBroker
from helpdesk_devstack.ports import free_port
from helpdesk_devstack.postgres import LocalPostgres


@contextlib.contextmanager
def scratch_postgres(
    *, fast: bool = True, extra_settings: dict[str, str] | None = None
) -> Iterator[LocalPostgres]:
    """A running PostgreSQL cluster in a fresh temporary directory on a free port, removed
    afterwards (for tests that need settings of their own)."""
    # Not tmp_path_factory: pytest's base temp directory is private to the invoking user,
    # and as root the server runs as another user, which must reach its data directory.
    data_dir = Path(tempfile.mkdtemp(prefix="helpdesk-test-pg-"))
    server = LocalPostgres(data_dir, free_port(), fast=fast, extra_settings=extra_settings)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """A running PostgreSQL cluster tuned for speed over durability (fast=True)."""
    with scratch_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A running broker shared by the session; aiokafka producers need enable_idempotence=False."""
    broker = LocalBroker(free_port(), tmp_path_factory.mktemp("kafka") / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
