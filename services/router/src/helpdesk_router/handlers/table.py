"""The worker's handler table: every event type the router follows, to its handler."""

from __future__ import annotations

from helpdesk_events import Handler

from ..routing.distribution import Distributor
from .agents import AGENT_EVENTS, AgentHandlers
from .tickets import TICKET_EVENTS, TicketHandlers


def handler_table(distributor: Distributor) -> dict[str, Handler]:
    tickets = TicketHandlers(distributor)
    agents = AgentHandlers(distributor)
    return {
        **dict.fromkeys(TICKET_EVENTS, tickets.on_ticket_event),
        **dict.fromkeys(AGENT_EVENTS, agents.on_agent_event),
    }
