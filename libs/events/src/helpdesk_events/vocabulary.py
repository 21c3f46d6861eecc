"""The values ticket fields take, shared by the ticket snapshot's producers and readers."""

from __future__ import annotations

STATUSES = (
    "new",
    "open",
    "answered",
    "resolved",
    "postponed",
    "spam",
    "deleted",
    "chatting",
    "calling",
)
CHANNELS = (
    "email", "chat", "call", "web_form", "api", "facebook", "twitter", "instagram", "whatsapp",
    "viber", "telegram", "offline_message", "portal",
)  # fmt: skip
SOCIAL_CHANNELS = ("facebook", "twitter", "instagram", "whatsapp", "viber", "telegram")
PRIORITIES = ("low", "medium", "high", "urgent")
# An agent's availability on a channel.
AVAILABILITY = ("online", "away", "offline")
MESSAGE_AUTHORS = ("customer", "agent", "system")
