import uuid
from datetime import UTC, datetime
from typing import Any

from helpdesk_events import Actor, Change, TicketSnapshot, TicketUpdated
from helpdesk_ticket_api.models import OUTBOX
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def pending(engine: AsyncEngine) -> int:
    """The rows in ticket-api's outbox, not yet published."""
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(OUTBOX.outbox))
    return int(count or 0)


def snapshot(at: datetime = NOW, **overrides: Any) -> TicketSnapshot:
    """An open e-mail ticket of high priority, created and last changed ``at``; ``overrides``
    set any other field."""
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "code": "T-000001",
        "subject": "Refund",
        "status": "open",
        "channel": "email",
        "priority": "high",
        "created_at": at,
        "updated_at": at,
        "status_changed_at": at,
        "version": 2,
    }
    return TicketSnapshot(**{**fields, **overrides})


def ticket_event(ticket_id: uuid.UUID, version: int) -> TicketUpdated:
    """A ticket.updated event whose snapshot version tells the order it was made in."""
    return TicketUpdated(
        occurred_at=NOW,
        ticket_id=ticket_id,
        actor=Actor(kind="system"),
        correlation_id=uuid.uuid4(),
        changes={"subject": Change(before=f"v{version - 1}", after=f"v{version}")},
        ticket=snapshot(
            id=ticket_id, code="T-1", subject=f"v{version}", priority="low", version=version
        ),
    )
