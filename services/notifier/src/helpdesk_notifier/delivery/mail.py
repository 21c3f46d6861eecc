"""E-mail through SMTP with aiosmtplib."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib


@dataclass(frozen=True)
class MailOutcome:
    latency_ms: float
    error: str | None
    # The server refused for good (5xx): trying again would not help.
    permanent: bool = False


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    timeout_seconds: float


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
