"""Publishing events: an aiokafka producer with the settings the suite relies on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from .envelope import EventBase, encode_event


class EventProducer:
    """An aiokafka producer with the settings the suite relies on.

    ``acks=all`` so an acknowledged event survives a broker failover. The idempotent producer
    is a setting because the local broker (Tansu) does not support it; with it off, a retry
    may duplicate an event, which consumers absorb by deduplicating on the event id.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        enable_idempotence: bool = False,
        client_id: str = "helpdesk",
        request_timeout_ms: int = 10_000,
    ) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=enable_idempotence,
            linger_ms=2,
            max_batch_size=512 * 1024,
            request_timeout_ms=request_timeout_ms,
        )
        self._started = False

    async def start(self) -> None:
        await self._producer.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()
            self._started = False

    async def send_many(self, records: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Send (topic, key, value) records in order and wait until all are acknowledged."""
        futures = [
            await self._producer.send(topic, value=value, key=key) for topic, key, value in records
        ]
        await asyncio.gather(*futures)

    async def send(self, topic: str, event: EventBase) -> None:
        await self.send_many([(topic, event.partition_key(), encode_event(event))])
