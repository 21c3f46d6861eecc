"""How services talk to ticket-api: the write-back action schema (``actions``), which
ticket-api validates requests with and callers build batches with, so the two cannot
drift; and the typed client (``client``) for write-backs, reads, search and whoami."""

from .actions import ActionActor, ActionBatch
from .client import (
    TicketApiClient,
    TicketApiError,
    TicketSearchPage,
    WhoAmI,
    WriteBackResult,
    ticket_api_session,
)

__all__ = [
    "ActionActor",
    "ActionBatch",
    "TicketApiClient",
    "TicketApiError",
    "TicketSearchPage",
    "WhoAmI",
    "WriteBackResult",
    "ticket_api_session",
]
