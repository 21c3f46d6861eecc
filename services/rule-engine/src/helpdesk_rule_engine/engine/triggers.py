"""The rule triggers, and which of them an event sets off."""

from __future__ import annotations

from typing import Literal

from helpdesk_events import EventBase, MessageAdded, TicketCreated

# What a rule can run on.
Trigger = Literal[
    "ticket_created",
    "ticket_created_from_email",
    "status_changed",
    "ticket_transferred",
    "offline_message_added",
    "agent_rated",
    "tags_changed",
    "customer_replied",
    "agent_replied",
    "sla_warning",
    "sla_breached",
]

_BY_TYPE = {
    "ticket.status_changed": "status_changed",
    "ticket.transferred": "ticket_transferred",
    "ticket.rated": "agent_rated",
    "ticket.tags_changed": "tags_changed",
    "sla.warning": "sla_warning",
    "sla.breached": "sla_breached",
}


def triggers_for(event: EventBase) -> list[str]:
    if isinstance(event, TicketCreated):
        triggers = ["ticket_created"]
        if event.ticket.channel == "email":
            triggers.append("ticket_created_from_email")
        if event.ticket.channel == "offline_message":
            triggers.append("offline_message_added")
        return triggers
    if isinstance(event, MessageAdded):
        message = event.message
        if message.internal:
            return []
        if message.author_kind == "customer":
            triggers = ["customer_replied"]
            if event.ticket.channel == "offline_message":
                triggers.append("offline_message_added")
            return triggers
        if message.author_kind == "agent":
            return ["agent_replied"]
        return []
    trigger = _BY_TYPE.get(event.type)
    return [trigger] if trigger else []
