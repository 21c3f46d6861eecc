"""The values ticket fields take, shared by the ticket snapshot's producers and readers."""

from __future__ import annotations

from typing import Literal, get_args

TicketStatus = Literal[
    "new",
    "open",
    "answered",
    "resolved",
    "postponed",
    "spam",
    "deleted",
    "chatting",
    "calling",
]
STATUSES: tuple[TicketStatus, ...] = get_args(TicketStatus)
Channel = Literal[
    "email", "chat", "call", "web_form", "api", "facebook", "twitter", "instagram", "whatsapp",
    "viber", "telegram", "offline_message", "portal",
]  # fmt: skip
CHANNELS: tuple[Channel, ...] = get_args(Channel)
SOCIAL_CHANNELS = ("facebook", "twitter", "instagram", "whatsapp", "viber", "telegram")
Priority = Literal["low", "medium", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
# An agent's availability on a channel.
AVAILABILITY = ("online", "away", "offline")
MESSAGE_AUTHORS = ("customer", "agent", "system")
