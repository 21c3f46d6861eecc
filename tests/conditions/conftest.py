"""Fixtures for the condition language tests (on top of tests/conftest.py).

ticket-api only writes events to its outbox table, so these tests need a topic prefix but
no broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from helpdesk_conditions import CustomField, TicketTables
from helpdesk_devstack.postgres import LocalPostgres
from helpdesk_events import Topics
from helpdesk_ticket_api.cli import migrate
from helpdesk_ticket_api.config import Settings
from helpdesk_ticket_api.models import (
    Agent,
    Customer,
    CustomerGroup,
    CustomerGroupMember,
    CustomFieldDefinition,
    Department,
    Message,
    Ticket,
)
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import service_settings

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

TABLES = TicketTables(
    ticket=Ticket.__table__,
    message=Message.__table__,
    customer_group_member=CustomerGroupMember.__table__,
    agent=Agent.__table__,
)

CUSTOM_FIELDS = [
    CustomField("note", "text"),
    CustomField("score", "number"),
    CustomField("vip", "boolean"),
    CustomField("due", "date"),
    CustomField("plan", "select", ("free", "pro", "Enterprise")),
]


@pytest.fixture
def topics() -> Topics:
    return Topics(prefix=f"t-{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def settings(database_url: str, topics: Topics) -> Settings:
    return service_settings(
        Settings, database_url, topic_prefix=topics.prefix, db_pool_size=5, db_max_overflow=5
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    e = create_async_engine(database_url, pool_size=2, max_overflow=0)
    yield e
    await e.dispose()


@pytest.fixture(scope="module")
async def module_engine(pg_server: LocalPostgres) -> AsyncIterator[AsyncEngine]:
    """A database with ticket-api's schema shared by a module's tests, for tests that only
    read fixed rows."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    await pg_server.create_database(name)
    await asyncio.to_thread(migrate, Settings(database_url=pg_server.url_for(name)))
    e = create_async_engine(pg_server.url_for(name), pool_size=2, max_overflow=0)
    yield e
    await e.dispose()
    await pg_server.drop_database(name)


@dataclass(frozen=True)
class Directory:
    """Rows tickets refer to, created once per test in its fresh database."""

    departments: list[uuid.UUID]
    agents: list[uuid.UUID]
    customers: list[uuid.UUID]
    groups: list[uuid.UUID]


# Availability per agent: full, partial (missing channels count as offline), none.
AVAILABILITIES = [
    {"email": "online", "chat": "away", "call": "offline", "social": "online"},
    {"chat": "online", "social": "away"},
    {},
]
# Which groups each customer belongs to (by index into Directory.groups).
MEMBERSHIPS = [[0, 1], [1], []]


@pytest.fixture
async def directory(engine: AsyncEngine) -> Directory:
    return await create_directory(engine)


def _numbered_rows(
    ids: list[uuid.UUID], columns: Callable[[int], dict[str, Any]]
) -> list[dict[str, Any]]:
    """A row for each of ``ids``, created at ``NOW``, its other columns made from its position
    (records numbered 0, 1, ... get names and emails a test can tell apart)."""
    return [{"id": i, "created_at": NOW, **columns(n)} for n, i in enumerate(ids)]


async def create_directory(engine: AsyncEngine) -> Directory:
    d = Directory(
        departments=[uuid.uuid4() for _ in range(2)],
        agents=[uuid.uuid4() for _ in AVAILABILITIES],
        customers=[uuid.uuid4() for _ in MEMBERSHIPS],
        groups=[uuid.uuid4() for _ in range(3)],
    )
    async with engine.begin() as conn:
        await conn.execute(
            insert(Department),
            _numbered_rows(d.departments, lambda n: {"name": f"Dept {n}", "updated_at": NOW}),
        )
        await conn.execute(
            insert(Agent),
            _numbered_rows(
                d.agents,
                lambda n: {
                    "name": f"Agent {n}",
                    "email": f"agent{n}@example.com",
                    "role": "agent",
                    "availability": AVAILABILITIES[n],
                    "updated_at": NOW,
                },
            ),
        )
        await conn.execute(
            insert(Customer),
            _numbered_rows(
                d.customers, lambda n: {"email": f"c{n}@example.com", "updated_at": NOW}
            ),
        )
        await conn.execute(
            insert(CustomerGroup), _numbered_rows(d.groups, lambda n: {"name": f"Group {n}"})
        )
        await conn.execute(
            insert(CustomerGroupMember),
            [
                {"customer_id": d.customers[c], "group_id": d.groups[g]}
                for c, groups in enumerate(MEMBERSHIPS)
                for g in groups
            ],
        )
        await conn.execute(
            insert(CustomFieldDefinition),
            [
                {
                    "id": uuid.uuid4(),
                    "key": f.key,
                    "label": f.key.title(),
                    "type": f.type,
                    "options": list(f.options),
                    "created_at": NOW,
                }
                for f in CUSTOM_FIELDS
            ],
        )
    return d
