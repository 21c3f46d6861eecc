"""What a ticket change announces and records: its domain events and its history rows.

Plain functions of what the editor (changes.py) worked out, with no I/O: one event per kind
of change (status, responsibility, tags, other fields; a message, a rating, a deletion or a
restoration carries the changes it caused) and one history row per changed field, each
naming the event that announced it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from helpdesk_events import (
    Change,
    EventBase,
    MessageAdded,
    RatingSnapshot,
    TicketCreated,
    TicketDeleted,
    TicketEventBase,
    TicketPurged,
    TicketRated,
    TicketRestored,
    TicketSnapshot,
    TicketStatusChanged,
    TicketTagsChanged,
    TicketTransferred,
    TicketUpdated,
)

from ..models import Message, Rating
from ..origin import Origin
from .snapshot import message_snapshot

# Which event type announces a change of which field (anything else: ticket.updated).
_CATEGORY: dict[str, type[TicketEventBase]] = {
    "status": TicketStatusChanged,
    "department_id": TicketTransferred,
    "agent_id": TicketTransferred,
    "tags": TicketTagsChanged,
}
# What deleting or restoring a ticket changes: announced by ticket.deleted / ticket.restored.
_LIFECYCLE_FIELDS = frozenset({"status", "status_changed_at", "deleted_at"})
# Bookkeeping columns whose changes are not news on their own.
_INTERNAL_FIELDS = frozenset({"status_changed_at", "last_message_id", "message_count", "sla_stamp"})
_MESSAGE_FIELDS = frozenset(
    {
        "last_message_at",
        "last_message_author",
        "first_customer_message_at",
        "last_customer_message_at",
        "first_agent_reply_at",
        "last_agent_reply_at",
    }
)

# What a change did besides setting fields, in order: a message added, a rating, the
# ticket deleted or restored.
Happening = tuple[str, Message | Rating | None]


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def event_base(ticket_id: uuid.UUID, origin: Origin, now: datetime) -> dict[str, Any]:
    return {
        "occurred_at": now,
        "ticket_id": ticket_id,
        "actor": origin.actor,
        "correlation_id": origin.correlation_id,
        "causation_id": origin.causation_id,
        "depth": origin.depth,
    }


def created_events(
    base: dict[str, Any], snapshot: TicketSnapshot, first_message: Message | None
) -> list[EventBase]:
    message = message_snapshot(first_message) if first_message is not None else None
    return [TicketCreated(**base, ticket=snapshot, message=message)]


def purged_event(base: dict[str, Any], snapshot: TicketSnapshot) -> TicketPurged:
    return TicketPurged(**base, ticket=snapshot)


def change_events(
    base: dict[str, Any],
    snapshot: TicketSnapshot,
    changes: dict[str, Change],
    happenings: list[Happening],
) -> list[EventBase]:
    events: list[EventBase] = []
    owned: set[str] = set()
    public = {f: c for f, c in changes.items() if f not in _INTERNAL_FIELDS}
    for kind, subject in happenings:
        if kind == "message":
            assert isinstance(subject, Message)
            events.append(
                MessageAdded(
                    **base, ticket=snapshot, changes=public, message=message_snapshot(subject)
                )
            )
        elif kind == "rating":
            assert isinstance(subject, Rating)
            events.append(
                TicketRated(
                    **base,
                    ticket=snapshot,
                    changes=public,
                    rating=RatingSnapshot(
                        id=subject.id,
                        ticket_id=subject.ticket_id,
                        agent_id=subject.agent_id,
                        customer_id=subject.customer_id,
                        rating=subject.rating,
                        comment=subject.comment,
                        created_at=subject.created_at,
                    ),
                )
            )
        elif kind in ("deleted", "restored"):
            lifecycle = TicketDeleted if kind == "deleted" else TicketRestored
            # Its own fields only: other changes of the same batch get their own events
            # (and history rows), not a second mention here.
            mine = {f: c for f, c in public.items() if f in _LIFECYCLE_FIELDS}
            events.append(lifecycle(**base, ticket=snapshot, changes=mine))
            owned |= _LIFECYCLE_FIELDS
    by_category: dict[type[TicketEventBase], dict[str, Change]] = {}
    for field, change in changes.items():
        if field in owned or field in _INTERNAL_FIELDS:
            continue
        by_category.setdefault(_CATEGORY.get(field, TicketUpdated), {})[field] = change
    has_message = any(kind == "message" for kind, _ in happenings)
    for cls, fields in by_category.items():
        # Timestamps a message moved are news only inside its message.added event.
        if cls is TicketUpdated and has_message and set(fields) <= _MESSAGE_FIELDS:
            continue
        events.append(cls(**base, ticket=snapshot, changes=fields))
    return events


def history_rows(
    ticket_id: uuid.UUID, origin: Origin, now: datetime, events: list[EventBase]
) -> list[dict[str, Any]]:
    """One row per changed field of each event (one for a creation, message, rating or
    purge), with who made the change and why."""
    o = origin
    rows: list[dict[str, Any]] = []

    def row(action: str, event: EventBase, field: str | None, before: Any, after: Any) -> None:
        rows.append(
            {
                "ticket_id": ticket_id,
                "occurred_at": now,
                "actor_kind": o.actor.kind,
                "actor_id": o.actor.id,
                "actor_name": o.actor.name,
                "action": action,
                "field": field,
                "before": before,
                "after": after,
                "event_id": event.id,
                "correlation_id": o.correlation_id,
                "causation_id": o.causation_id,
                "depth": o.depth,
            }
        )

    for event in events:
        action = event.type.split(".", 1)[1]
        if isinstance(event, TicketCreated):
            row("created", event, None, None, _created_summary(event.ticket))
        elif isinstance(event, MessageAdded):
            m = event.message
            row(
                "note_added" if m.internal else "message_added",
                event,
                None,
                None,
                {
                    "message_id": str(m.id),
                    "author_kind": m.author_kind,
                    "author_id": jsonable(m.author_id),
                },
            )
        elif isinstance(event, TicketRated):
            row(
                "rated",
                event,
                None,
                None,
                {"rating": event.rating.rating, "agent_id": jsonable(event.rating.agent_id)},
            )
        elif isinstance(event, TicketPurged):
            row("purged", event, None, None, None)
        if isinstance(event, TicketCreated | MessageAdded | TicketRated | TicketPurged):
            continue
        for field, change in event.changes.items():
            if field in _INTERNAL_FIELDS:
                continue
            row(action, event, field, change.before, change.after)
    return rows


def _created_summary(snapshot: TicketSnapshot) -> dict[str, Any]:
    fields = (
        "status",
        "channel",
        "priority",
        "department_id",
        "agent_id",
        "customer_id",
        "sla_level",
        "tags",
        "subject",
    )
    return {f: jsonable(getattr(snapshot, f)) for f in fields}
