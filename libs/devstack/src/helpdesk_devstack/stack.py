"""What `make run` brings up besides PostgreSQL and the broker; a new service adds itself here
and to the repository's Procfile."""

from typing import Final, NamedTuple

TOPICS: Final = (
    "helpdesk.tickets",
    "helpdesk.agents",
    "helpdesk.sla",
    "helpdesk.notifications",
)

# Run in order before the services start, with DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS set.
MIGRATION_COMMANDS: Final = (
    ("helpdesk-ticket-api", "migrate"),
    ("helpdesk-rule-engine", "migrate"),
)


class ServiceEndpoint(NamedTuple):
    name: str
    url: str
    docs_path: str | None = "/docs"


SERVICE_ENDPOINTS: Final = (
    ServiceEndpoint("ticket-api", "http://127.0.0.1:8000"),
    ServiceEndpoint("rule-engine", "http://127.0.0.1:8001"),
)

# Services of the design that have not landed yet, named in the banner.
PENDING_SERVICES: Final = ("router", "sla-tracker", "scheduler", "notifier")
