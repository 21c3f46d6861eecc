"""Drives the rule engine without Kafka: takes ticket-api's committed outbox rows in order
(as the relay would), hands each to the real ConsumerRunner path (dedupe and handler, as
the worker runs them), and repeats until no new events appear — so cascades run to the
end, on real PostgreSQL, deterministically."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

from aiokafka.structs import ConsumerRecord
from helpdesk_events import (
    Clock,
    ConsumerRunner,
    ConsumerTables,
    EventBase,
    Handler,
    decode_event,
)
from helpdesk_service.db import make_session_factory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class Pump:
    # The topics whose events it delivers (by name, whatever the prefix).
    topics: tuple[str, ...] = ("helpdesk.tickets",)

    def __init__(self, engine: AsyncEngine, runner: ConsumerRunner) -> None:
        self._engine = engine
        self._runner = runner
        self._offset = 0
        self.delivered: list[EventBase] = []

    async def take_outbox(self, schema: str = "tickets") -> list[tuple[str, bytes, bytes]]:
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    text(
                        f"DELETE FROM {schema}.outbox WHERE id IN (SELECT id FROM {schema}.outbox ORDER BY id) RETURNING id, topic, key, payload"
                    )
                )
            ).all()
        return [(r.topic, bytes(r.key), bytes(r.payload)) for r in sorted(rows, key=lambda r: r.id)]

    async def drain(self, max_rounds: int = 30) -> list[EventBase]:
        """Deliver every pending event of its topics, and what they cause, until quiet."""
        delivered: list[EventBase] = []
        for _ in range(max_rounds):
            batch = [r for r in await self.take_outbox() if r[0].endswith(self.topics)]
            if not batch:
                self.delivered.extend(delivered)
                return delivered
            for topic, key, value in batch:
                await self.deliver(topic, key, value)
                delivered.append(decode_event(value))
        raise AssertionError(f"events still flowing after {max_rounds} rounds: a loop?")

    async def drain_and_check(self, schema: str) -> list[EventBase]:
        """drain(), failing the test if a handler gave up on an event (a row in the
        consumer's ``<schema>.dead_event``)."""
        events = await self.drain()
        async with self._engine.connect() as conn:
            dead = (
                await conn.execute(text(f"SELECT event_type, error FROM {schema}.dead_event"))
            ).all()
        assert not dead, f"a handler failed: {dead}"
        return events

    async def deliver(self, topic: str, key: bytes, value: bytes) -> None:
        self._offset += 1
        record: ConsumerRecord[Any, Any] = ConsumerRecord(
            topic=topic,
            partition=0,
            offset=self._offset,
            timestamp=0,
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key),
            serialized_value_size=len(value),
            headers=(),
        )
        await self._runner.handle_record(record)


@asynccontextmanager
async def pumping(
    db: AsyncEngine,
    clock: Clock,
    *,
    name: str,
    topic: str,
    handlers: Mapping[str, Handler],
    tables: ConsumerTables,
    dedupe: Literal["runner", "handler"] = "runner",
    pump_class: type[Pump] = Pump,
) -> AsyncIterator[Pump]:
    """A Pump (a ``pump_class``, for one that takes more topics) feeding a service's
    handlers through the ConsumerRunner as its worker builds it, trying each event once so
    that a failing handler shows at once."""
    runner = ConsumerRunner(
        name=name,
        # Never dialled: the pump hands records to the runner itself.
        bootstrap_servers="127.0.0.1:1",
        topics=[topic],
        handlers=handlers,
        session_factory=make_session_factory(db),
        tables=tables,
        clock=clock,
        max_attempts=1,
        dedupe=dedupe,
    )
    try:
        yield pump_class(db, runner)
    finally:
        await runner.release_connections()
