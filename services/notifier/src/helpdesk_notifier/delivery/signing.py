"""Standard Webhooks signatures (https://www.standardwebhooks.com) with the
``standardwebhooks`` library: ``webhook-id`` (the same on every attempt of a delivery, so
receivers dedupe), ``webhook-timestamp`` and ``webhook-signature`` — one signature per
valid secret, so during a rotation receivers holding either secret verify."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh ``whsec_…`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"


def webhook_headers(
    message_id: str, timestamp: datetime, body: bytes, signing_secrets: Iterable[str]
) -> dict[str, str]:
    signatures = [Webhook(secret).sign(message_id, timestamp, body) for secret in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
