"""Settings read from the environment: the SSRF allow-list as CIDRs, the SMTP server
(``NOTIFIER_SMTP_*``), and an attempt that must end before its lease."""

from __future__ import annotations

import ipaddress

import pytest
from helpdesk_notifier.config import Settings
from pydantic import ValidationError


def test_allowed_networks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_ALLOWED_NETWORKS", "127.0.0.0/8, ::1/128")
    assert Settings().allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    monkeypatch.delenv("NOTIFIER_ALLOWED_NETWORKS")
    assert Settings().allowed_networks == ()


def test_a_bad_cidr_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_ALLOWED_NETWORKS", "127.0.0.0/8,localhost")
    with pytest.raises(ValidationError, match="localhost"):
        Settings()


def test_an_attempt_must_end_before_its_lease() -> None:
    with pytest.raises(ValidationError, match="shorter than delivery_lease_seconds"):
        Settings(webhook_timeout_seconds=60, delivery_lease_seconds=30)


def test_smtp_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HOST": "mail.example.com",
        "PORT": "2525",
        "USERNAME": "desk",
        "PASSWORD": "secret",
        "STARTTLS": "true",
    }.items():
        monkeypatch.setenv(f"NOTIFIER_SMTP_{name}", value)
    smtp = Settings().smtp
    assert (smtp.host, smtp.port, smtp.username, smtp.password, smtp.starttls) == (
        "mail.example.com",
        2525,
        "desk",
        "secret",
        True,
    )


def test_smtp_timeout_follows_the_webhook_timeout_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFIER_WEBHOOK_TIMEOUT_SECONDS", "3")
    assert Settings().smtp.timeout_seconds == 3
    monkeypatch.setenv("NOTIFIER_SMTP_TIMEOUT_SECONDS", "7")
    assert Settings().smtp.timeout_seconds == 7
    monkeypatch.setenv("NOTIFIER_SMTP_TIMEOUT_SECONDS", "60")
    with pytest.raises(ValidationError, match="NOTIFIER_SMTP_TIMEOUT_SECONDS"):
        Settings(delivery_lease_seconds=30)
