import uuid
from datetime import UTC, datetime

from helpdesk_events import Actor, Change, TicketSnapshot, TicketUpdated

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def ticket_event(ticket_id: uuid.UUID, version: int) -> TicketUpdated:
    """A ticket.updated event whose snapshot version tells the order it was made in."""
    return TicketUpdated(
        occurred_at=NOW,
        ticket_id=ticket_id,
        actor=Actor(kind="system"),
        correlation_id=uuid.uuid4(),
        changes={"subject": Change(before=f"v{version - 1}", after=f"v{version}")},
        ticket=TicketSnapshot(
            id=ticket_id,
            code="T-1",
            subject=f"v{version}",
            status="open",
            channel="email",
            priority="low",
            created_at=NOW,
            updated_at=NOW,
            status_changed_at=NOW,
            version=version,
        ),
    )
