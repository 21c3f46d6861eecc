"""The settings every service has, read from the environment.

A service's ``config.py`` subclasses ``ServiceSettings`` with its own prefix::

    class Settings(ServiceSettings):
        model_config = settings_config("ROUTER_")
        port: int = 8002

Each setting is read as ``<PREFIX><NAME>`` (``ROUTER_DB_POOL_SIZE``). The ones the whole
suite shares (``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``, ``HELPDESK_ADMIN_KEY`` … see
``SHARED_NAMES``) are also read without the prefix; the prefixed form wins where both are set.
"""

from __future__ import annotations

from pydantic import AliasChoices, AliasGenerator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Settings the suite shares, and the environment variable each is read from unprefixed.
SHARED_NAMES = {
    "database_url": "DATABASE_URL",
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "kafka_enable_idempotence": "KAFKA_ENABLE_IDEMPOTENCE",
    "topic_prefix": "HELPDESK_TOPIC_PREFIX",
    "admin_key": "HELPDESK_ADMIN_KEY",
    "service_key": "HELPDESK_SERVICE_KEY",
    "ticket_api_url": "HELPDESK_TICKET_API_URL",
    "log_level": "LOG_LEVEL",
    "access_log": "ACCESS_LOG",
}


def settings_config(env_prefix: str) -> SettingsConfigDict:
    """The model_config of a service's Settings: its prefix, and the shared names."""

    def shared_alias(name: str) -> AliasChoices | None:
        shared = SHARED_NAMES.get(name)
        # None: the field is read by its prefixed name only (pydantic-settings' env_prefix).
        return None if shared is None else AliasChoices(f"{env_prefix}{name.upper()}", shared)

    return SettingsConfigDict(
        env_prefix=env_prefix,
        extra="ignore",
        populate_by_name=True,
        # pydantic takes None from a generator as "no alias"; its annotation omits None.
        alias_generator=AliasGenerator(validation_alias=shared_alias),  # type: ignore[arg-type]
    )


class ServiceSettings(BaseSettings):
    model_config = settings_config("HELPDESK_")

    database_url: str = "postgresql+asyncpg://helpdesk:helpdesk@127.0.0.1:55432/helpdesk"
    kafka_bootstrap_servers: str = "127.0.0.1:59092"
    # Off for the local broker (Tansu lacks it); turn on against Apache Kafka.
    kafka_enable_idempotence: bool = False
    topic_prefix: str = ""
    # The bootstrap admin key: ticket-api stores it hashed, the others accept it without
    # asking ticket-api. The local stack sets dev-admin-key.
    admin_key: str | None = None
    # A bootstrap key with the service role, for the suite's own services' write-backs.
    service_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # HTTP worker processes of `serve` (not a worker command's event consumers).
    workers: int = Field(default=1, ge=1)
    db_pool_size: int = 10
    db_max_overflow: int = 10
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    # One line per HTTP request in the log.
    access_log: bool = False
