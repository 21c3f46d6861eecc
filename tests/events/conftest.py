"""Fixtures for the outbox relay tests: ticket-api's engine on the test database and a
producer on the session's broker."""

from collections.abc import AsyncIterator

import pytest
from helpdesk_devstack.broker import LocalBroker
from helpdesk_events import EventProducer
from helpdesk_ticket_api.db import make_engine
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def producer(kafka_broker: LocalBroker) -> AsyncIterator[EventProducer]:
    p = EventProducer(kafka_broker.bootstrap_servers)
    await p.start()
    yield p
    await p.stop()
