"""E-mail through SMTP with aiosmtplib."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True)
class MailOutcome:
    latency_ms: float
    error: str | None
    # The server refused for good (5xx): trying again would not help.
    permanent: bool = False


class SmtpSettings(BaseSettings):
    """The SMTP server mail goes through: the notifier's ``NOTIFIER_SMTP_…`` settings."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_SMTP_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    # One attempt, connect to the server's last answer; unset, the notifier's Settings
    # make it NOTIFIER_WEBHOOK_TIMEOUT_SECONDS.
    timeout_seconds: float = Field(default=10, gt=0)


class MailSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> MailOutcome:
        s = self._settings
        started = time.perf_counter()
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password,
                start_tls=s.starttls,
                timeout=s.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            return MailOutcome(_since(started), f"recipients refused: {error}", permanent=True)
        except aiosmtplib.SMTPResponseException as error:
            return MailOutcome(
                _since(started), f"SMTP {error.code}: {error.message}", permanent=error.code >= 500
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            return MailOutcome(_since(started), f"{type(error).__name__}: {error}")
        return MailOutcome(_since(started), None)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
