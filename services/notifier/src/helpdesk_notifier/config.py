"""Settings for the notifier, read from the environment (prefix ``NOTIFIER_``; the suite's
shared names such as ``DATABASE_URL`` also unprefixed, see helpdesk_service.settings)."""

from __future__ import annotations

from typing import Annotated

from helpdesk_service.settings import settings_config
from helpdesk_service.worker import WorkerSettings
from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from .delivery.mail import SmtpSettings
from .delivery.ssrf import Network, parse_networks


class Settings(WorkerSettings):
    model_config = settings_config("NOTIFIER_")

    port: int = 8005
    # Networks outbound URLs may reach although the SSRF guard refuses them otherwise
    # (comma-separated CIDRs, e.g. "127.0.0.0/8" for receivers on this machine).
    allowed_networks: Annotated[tuple[Network, ...], NoDecode] = ()
    # One HTTP attempt, connect to last byte.
    webhook_timeout_seconds: float = Field(default=10, gt=0)
    # Attempts in flight to one endpoint, all worker processes together: a slow endpoint
    # holds only its own slots.
    endpoint_concurrency: int = Field(default=4, ge=1, le=100)
    # Attempts in flight in one worker process, all endpoints together.
    max_deliveries_in_flight: int = Field(default=64, ge=1, le=1000)
    # A claimed delivery is retried by another worker when its claimant did not finish in
    # this time (it died): longer than the timeout of one attempt.
    delivery_lease_seconds: float = Field(default=60, gt=0)
    # How often the worker looks for due deliveries when it found none.
    delivery_poll_seconds: float = Field(default=0.2, gt=0)
    # Ticket events older than this make no agent notification (see handlers/tickets.py).
    agent_notice_max_age_hours: float = Field(default=24, gt=0)
    # The mobile push provider's webhook: agents who turn push on are sent there (a signed
    # delivery with agent, kind, ticket and title). Unset: no push.
    push_webhook_url: str | None = None
    # An open in-app stream sends a comment line after this long without an event, so
    # proxies and load balancers do not close it as idle.
    stream_heartbeat_seconds: float = Field(default=15, gt=0)
    # Retention (see retention.py); 0 keeps for ever.
    delivery_retention_days: float = Field(default=30, ge=0)
    notification_retention_days: float = Field(default=90, ge=0)
    dedupe_retention_days: float = Field(default=30, ge=0)
    # Read from NOTIFIER_SMTP_HOST, NOTIFIER_SMTP_PORT … (see SmtpSettings).
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    mail_from: str = "helpdesk@localhost"

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        return parse_networks(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _attempt_within_lease(self) -> Settings:
        # An SMTP attempt may take as long as an HTTP one, unless its own timeout is set.
        if "timeout_seconds" not in self.smtp.model_fields_set:
            self.smtp = self.smtp.model_copy(
                update={"timeout_seconds": self.webhook_timeout_seconds}
            )
        # Otherwise a live attempt's delivery could be claimed, and sent, a second time.
        if self.webhook_timeout_seconds >= self.delivery_lease_seconds:
            raise ValueError("webhook_timeout_seconds must be shorter than delivery_lease_seconds")
        if self.smtp.timeout_seconds >= self.delivery_lease_seconds:
            raise ValueError(
                "smtp timeout_seconds (NOTIFIER_SMTP_TIMEOUT_SECONDS) must be shorter than "
                "delivery_lease_seconds"
            )
        return self
