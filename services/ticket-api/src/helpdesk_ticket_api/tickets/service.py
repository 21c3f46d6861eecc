"""Finding and reading tickets; changes go through ``TicketEditor`` (changes.py), new
tickets through creation.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_service.errors import NotFound
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import Principal
from ..models import Ticket
from .snapshot import SnapshotContext
from .statements import find_locked


def can_see(principal: Principal, ticket: Ticket) -> bool:
    if principal.role != "agent":
        return True
    return ticket.department_id in principal.department_ids or (
        principal.agent_id is not None and ticket.agent_id == principal.agent_id
    )


def visible_to(principal: Principal, query: Select[Any]) -> Select[Any]:
    if principal.role != "agent":
        return query
    clauses: list[ColumnElement[bool]] = [Ticket.department_id.in_(list(principal.department_ids))]
    if principal.agent_id is not None:
        clauses.append(Ticket.agent_id == principal.agent_id)
    return query.where(or_(*clauses))


async def get_visible(session: AsyncSession, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not can_see(principal, ticket):
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


async def lock_visible(
    session: AsyncSession, principal: Principal, ticket_id: uuid.UUID
) -> tuple[Ticket, SnapshotContext]:
    """The ticket, locked for a change, with what its snapshot needs."""
    found = await find_locked(session, ticket_id)
    if found is None or not can_see(principal, found[0]):
        raise NotFound(f"no ticket with id {ticket_id}")
    return found


def ticket_filters(
    *,
    status: list[str] | None,
    department_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    unassigned: bool | None,
    customer_id: uuid.UUID | None,
    channel: str | None,
    priority: str | None,
    tag: str | None,
    include_deleted: bool,
    created_after: datetime | None,
    created_before: datetime | None,
) -> list[Any]:
    clauses: list[Any] = []
    if status:
        clauses.append(Ticket.status.in_(status))
    elif not include_deleted:
        clauses.append(Ticket.deleted_at.is_(None))
    if department_id is not None:
        clauses.append(Ticket.department_id == department_id)
    if agent_id is not None:
        clauses.append(Ticket.agent_id == agent_id)
    if unassigned is not None:
        clauses.append(Ticket.agent_id.is_(None) if unassigned else Ticket.agent_id.is_not(None))
    if customer_id is not None:
        clauses.append(Ticket.customer_id == customer_id)
    if channel is not None:
        clauses.append(Ticket.channel == channel)
    if priority is not None:
        clauses.append(Ticket.priority == priority)
    if tag is not None:
        clauses.append(Ticket.tags.contains([tag]))
    if created_after is not None:
        clauses.append(Ticket.created_at >= created_after)
    if created_before is not None:
        clauses.append(Ticket.created_at < created_before)
    return clauses


def after_cursor(at: datetime, id_: uuid.UUID) -> Any:
    """Rows after (at, id) in newest-first order."""
    return or_(Ticket.created_at < at, and_(Ticket.created_at == at, Ticket.id < id_))
