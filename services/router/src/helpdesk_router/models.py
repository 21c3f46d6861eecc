"""Tables of the ``routing`` schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_events import consumer_tables, outbox_tables
from helpdesk_service.table_mixins import TicketLog
from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

OUTBOX = outbox_tables(Base.metadata)
# The worker prunes processed marks by age (retention.py).
CONSUMER = consumer_tables(Base.metadata, pruned_by_age=True)


class RoutingPolicy(Base):
    """How one department distributes one channel's tickets; no row means the default
    (routing/policies.py)."""

    __tablename__ = "policy"

    department_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    method: Mapped[str] = mapped_column(String(30))
    # "push": the router assigns; "pull": tickets wait until an agent asks for the next one.
    distribution: Mapped[str] = mapped_column(String(10))
    offer_timeout_seconds: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgentChannelProfile(Base):
    """An agent's priority and maximum concurrent load on one channel; no row means the
    default (routing/profiles.py)."""

    __tablename__ = "agent_channel_profile"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)
    max_load: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoutedAgent(Base):
    """An agent as the last agent event told it: departments, availability, active."""

    __tablename__ = "agent"
    __table_args__ = (Index("ix_agent_departments", "department_ids", postgresql_using="gin"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    department_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    # routing channel -> online / away / offline
    availability: Mapped[dict[str, str]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean)
    # When the event this row reflects happened: older events delivered late are ignored.
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# A routed ticket's states: waiting in its department's queue, offered to agents (ring
# all), reserved for an agent (decided, the write-back to ticket-api pending), assigned to
# an agent, closed (resolved, spam, deleted, purged), or without department. Reserved and
# assigned tickets count in their agent's load.
WAITING, OFFERED, RESERVED, ASSIGNED, CLOSED, UNROUTED = (
    "waiting",
    "offered",
    "reserved",
    "assigned",
    "closed",
    "unrouted",
)
LOADED = (RESERVED, ASSIGNED)


class RoutedTicket(Base):
    """A ticket as the router last saw it. Agents' loads are what these rows say (kept in
    AgentLoad by triggers on this table), whatever order their events came in."""

    __tablename__ = "ticket"
    __table_args__ = (
        # Serves the last assignment counted again when the latest leaves (AgentLoad).
        Index("ix_ticket_turns", "agent_id", "channel", "assigned_at"),
        # Serves the queue order (routing/distribution.py QUEUE_ORDER) within a department.
        Index(
            "ix_ticket_queue",
            "department_id",
            "sla_due_at",
            "created_at",
            "id",
            postgresql_where=text("state = 'waiting'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The routing channel (email, chat, call, social), not the ticket's own.
    channel: Mapped[str] = mapped_column(String(10))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(10))
    # The ticket version this row reflects (the snapshot's ``version``).
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the ticket's running SLA response clock is due, as its latest event says (None:
    # no clock running): waiting work nearest its due date is handed out first.
    sla_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # ticket-api refused the last assignment (the ticket had moved on): route it again
    # with its next event.
    retry_routing: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class AgentLoad(Base):
    """An agent's load on one channel (their ``reserved`` and ``assigned`` tickets) and
    their last assignment there (the latest ``assigned_at`` of the tickets they hold), as
    counting routing.ticket gives them. Written only by triggers on routing.ticket
    (migration 0008), so every path that moves a ticket keeps it exact; a decision reads
    one row per candidate instead of counting."""

    __tablename__ = "agent_load"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    load: Mapped[int] = mapped_column(Integer)
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RoutingDecision(TicketLog, Base):
    """One decision for one ticket, with every candidate's verdict (``GET
    /v1/tickets/{id}/routing``)."""

    __tablename__ = "decision"
    __written_at__ = "decided_at"

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # The event that led to the decision; None for an agent's "next" request.
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(10))
    method: Mapped[str] = mapped_column(String(30))
    # assigned (the slot reserved, then written back to ticket-api), queued (nobody
    # eligible, or the department pulls), refused (ticket-api refused the assignment: the
    # ticket changed in the meantime; the reservation was released)
    outcome: Mapped[str] = mapped_column(String(10))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(Text)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PendingAssignment(Base):
    """A slot reserved by a decision and committed, whose write-back to ticket-api has not
    been answered yet. Deleted when ticket-api answers; a worker that starts finds the rows
    a killed process left and writes them back again (the idempotency key makes a write
    that did reach ticket-api a replay)."""

    __tablename__ = "pending_assignment"

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    expected_version: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(Text)
    # The actor's name in the ticket's history: "router (<method>)".
    actor_name: Mapped[str] = mapped_column(Text)
    # One-agent account: the ticket also moves to ``department_id`` (None: to no department).
    moves_department: Mapped[bool] = mapped_column(Boolean)
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decision_id: Mapped[int] = mapped_column(BigInteger)
    causation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reserved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Offer(Base):
    """A ticket offered to several agents at once (ring all): the first to accept gets it."""

    __tablename__ = "offer"
    __table_args__ = (
        Index("ix_offer_open", "expires_at", postgresql_where=text("state = 'open'")),
        Index("ix_offer_ticket", "ticket_id"),
        Index("ix_offer_offered_at", "offered_at", postgresql_using="brin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    department_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(10))
    agent_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    # open, accepted, expired, withdrawn (the ticket changed or left the queue)
    state: Mapped[str] = mapped_column(String(10))
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
