"""Local PostgreSQL and Kafka-protocol broker for `make run` and the test suite."""

from helpdesk_devstack.broker import BrokerError, LocalBroker, ensure_topics
from helpdesk_devstack.errors import DevstackError
from helpdesk_devstack.ports import free_port
from helpdesk_devstack.postgres import LocalPostgres, PostgresError

__all__ = [
    "BrokerError",
    "DevstackError",
    "LocalBroker",
    "LocalPostgres",
    "PostgresError",
    "ensure_topics",
    "free_port",
]
