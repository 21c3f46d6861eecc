"""Settings read from the environment: the SSRF allow-list as CIDRs, and an attempt that
must end before its lease."""

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
