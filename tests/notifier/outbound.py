"""The notifier's delivery side as a delivery test drives it: outbound requests stored as the
consumer stores them, at the test clock's now, and sent by one delivery engine."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from helpdesk_events import ManualClock
from helpdesk_notifier.delivery.engine import DeliveryEngine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.notifier.conftest import Receiver, attempts, delivery_row, retry_until_dead, store


@dataclass
class Outbound:
    db: AsyncEngine
    clock: ManualClock
    deliveries: DeliveryEngine

    async def store(self, **request: Any) -> uuid.UUID:
        """Store an outbound request; returns the delivery id."""
        return await store(self.db, self.clock, **request)

    async def run_due(self) -> int:
        return await self.deliveries.run_due()

    async def row(self, delivery_id: uuid.UUID) -> Any:
        return await delivery_row(self.db, delivery_id)

    async def attempts(self, delivery_id: uuid.UUID) -> list[Any]:
        return await attempts(self.db, delivery_id)

    async def retry_until_dead(self, delivery_id: uuid.UUID) -> Any:
        return await retry_until_dead(self.db, self.clock, self.deliveries, delivery_id)

    async def call_once(self, receiver: Receiver, respond: Any) -> tuple[uuid.UUID, Any]:
        """A call_url to the receiver's /hook, which answers with ``respond``, sent once:
        the delivery id and its row after that attempt."""
        receiver.answers["/hook"] = respond
        delivery_id = await self.store(kind="call_url", url=receiver.url())
        await self.run_due()
        return delivery_id, await self.row(delivery_id)


@pytest.fixture
def outbound(db: AsyncEngine, clock: ManualClock, deliveries: DeliveryEngine) -> Outbound:
    return Outbound(db, clock, deliveries)
