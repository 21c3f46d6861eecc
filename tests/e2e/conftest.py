from collections.abc import Iterator

import pytest
from helpdesk_devstack.ports import free_port

from tests.conftest import ADMIN_KEY, SERVICE_KEY
from tests.e2e.suite import Suite


@pytest.fixture
def suite(database_url, kafka_broker, topics, tmp_path) -> Iterator[Suite]:
    """Real processes against the test session's PostgreSQL and broker; stopped afterwards."""
    s = Suite(
        database_url=database_url,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic_prefix=topics.prefix,
        log_dir=tmp_path,
        admin_key=ADMIN_KEY,
        service_key=SERVICE_KEY,
    )
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
def api_port() -> int:
    return free_port()
