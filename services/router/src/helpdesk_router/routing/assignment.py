"""Recording on the router's ticket row an assignment ticket-api accepted."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ..models import ASSIGNED, RoutedTicket


def mark_assigned(
    ticket: RoutedTicket, body: dict[str, Any], agent_id: uuid.UUID, now: datetime
) -> uuid.UUID:
    """Record a successful assignment on the ticket's row as ticket-api answered it, and
    return who holds the ticket. The answer wins over what the router asked for: a write
    replayed under its idempotency key (the event came again after a crash) reports the
    agent of the first attempt, which may differ from this attempt's choice."""
    written = body.get("ticket") or {}
    holder = uuid.UUID(written["agent_id"]) if written.get("agent_id") else agent_id
    ticket.retry_routing = False
    ticket.state = ASSIGNED
    ticket.agent_id = holder
    ticket.assigned_at = now
    ticket.version = int(written.get("version", ticket.version))
    if "department_id" in written:
        department = written["department_id"]
        ticket.department_id = uuid.UUID(department) if department else None
    return holder
