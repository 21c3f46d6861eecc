import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from helpdesk_devstack import BrokerError, LocalBroker, ensure_topics, free_port
from helpdesk_devstack.ports import port_is_free


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


async def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described}


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"ticket-1")
    finally:
        await producer.stop()


def consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    # Tansu completes a group join only after a wait tied to the session timeout (and a
    # rejoin only after the departed member's session expires), so keep it short.
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=3000,
        heartbeat_interval_ms=300,
    )


@pytest.fixture
def own_broker(tmp_path) -> Iterator[LocalBroker]:
    """A broker of the test's own, so killing it leaves the session broker alone."""
    broker = LocalBroker(free_port(), tmp_path / "broker.log")
    yield broker
    broker.stop()


async def test_ensure_topics_creates_missing_topics_once(kafka_broker: LocalBroker):
    first, second = unique("t"), unique("t")
    bootstrap = kafka_broker.bootstrap_servers

    assert sorted(await ensure_topics(bootstrap, [first], partitions=3)) == [first]
    created = await ensure_topics(bootstrap, [first, second], partitions=2)

    assert created == [second]
    assert await ensure_topics(bootstrap, [first, second], partitions=5) == []
    assert await partition_counts(bootstrap, [first, second]) == {first: 3, second: 2}


async def test_committed_offsets_survive_a_consumer_restart(kafka_broker: LocalBroker):
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = unique("offsets"), unique("group")
    await ensure_topics(bootstrap, [topic], partitions=1)
    await produce(bootstrap, topic, [b"one", b"two", b"three"])

    first = consumer(bootstrap, topic, group)
    await first.start()
    try:
        message = await asyncio.wait_for(first.getone(), 30)
        assert message.value == b"one"
        await first.commit()
    finally:
        await first.stop()

    second = consumer(bootstrap, topic, group)
    await second.start()
    try:
        message = await asyncio.wait_for(second.getone(), 30)
        assert message.value == b"two"
        assert await second.committed(TopicPartition(topic, 0)) == 1
    finally:
        await second.stop()


async def test_killed_broker_restarts_on_the_same_port(own_broker: LocalBroker):
    own_broker.start()
    pid = own_broker.pid
    topic = unique("restart")
    await ensure_topics(own_broker.bootstrap_servers, [topic], partitions=1)
    await produce(own_broker.bootstrap_servers, topic, [b"before"])

    own_broker.kill()
    assert own_broker.pid is None
    assert port_is_free(own_broker.port)

    own_broker.start()
    assert own_broker.pid not in (None, pid)
    # Memory storage: the restarted broker starts empty.
    assert await ensure_topics(own_broker.bootstrap_servers, [topic], partitions=1) == [topic]
    await produce(own_broker.bootstrap_servers, topic, [b"after"])
    reader = consumer(own_broker.bootstrap_servers, topic, unique("group"))
    await reader.start()
    try:
        message = await asyncio.wait_for(reader.getone(), 30)
    finally:
        await reader.stop()
    assert message.value == b"after"


async def test_start_refuses_a_port_already_in_use(kafka_broker: LocalBroker):
    intruder = LocalBroker(kafka_broker.port)
    with pytest.raises(BrokerError, match="already in use"):
        intruder.start()
