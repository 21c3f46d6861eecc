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
Availability = Literal["online", "away", "offline"]
AVAILABILITY: tuple[Availability, ...] = get_args(Availability)
# The channels an agent's availability (and a router's policy) is kept on: a ticket's social
# channels share "social".
AvailabilityChannel = Literal["email", "chat", "call", "social"]
AVAILABILITY_CHANNELS: tuple[AvailabilityChannel, ...] = get_args(AvailabilityChannel)
MessageAuthor = Literal["customer", "agent", "system"]
MESSAGE_AUTHORS: tuple[MessageAuthor, ...] = get_args(MessageAuthor)
AgentRole = Literal["admin", "agent"]
# Whom an API key speaks for: an admin, an agent, or one of the suite's services.
KeyRole = Literal["admin", "agent", "service"]
