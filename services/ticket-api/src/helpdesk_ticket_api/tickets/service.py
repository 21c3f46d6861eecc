"""Creating, finding and reading tickets; changes go through ``TicketEditor``."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Any

from helpdesk_events import Topics
from helpdesk_service.errors import Conflict, NotFound, Unprocessable
from sqlalchemy import ColumnElement, Select, and_, or_, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import Principal
from ..db import detached
from ..models import Ticket
from ..origin import Origin
from .changes import TicketEditor
from .custom_fields import validate_custom_fields
from .schemas import TicketCreate
from .snapshot import SnapshotContext
from .statements import SessionStore, find_locked


def ticket_code(number: int) -> str:
    return f"T-{number:06d}"


def new_ticket(
    data: TicketCreate,
    now: datetime,
    *,
    number: int,
    code: str,
    customer_id: uuid.UUID | None,
    custom_fields: dict[str, Any],
    for_session: bool = True,
) -> Ticket:
    """A new ticket's row, before responsibility, tags and its first message are applied.
    ``for_session=False``: a detached instance, never to be added to a session."""
    return (Ticket if for_session else partial(detached, Ticket))(
        id=uuid.uuid4(),
        number=number,
        code=code,
        subject=data.subject,
        status=data.status,
        channel=data.channel,
        priority=data.priority,
        department_id=None,
        agent_id=None,
        customer_id=customer_id,
        sla_level=data.sla_level,
        tags=[],
        custom_fields=custom_fields,
        referrer_url=data.referrer_url,
        created_from_invitation=data.created_from_invitation,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
        message_count=0,
        version=1,
    )


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


_CUSTOMER_BY_EMAIL = text(
    """
    WITH c AS (
        INSERT INTO tickets.customer AS cu (id, name, email, phone, created_at, updated_at)
        VALUES (:id, :name, :email, :phone, :now, :now)
        ON CONFLICT (email) DO UPDATE SET name = COALESCE(EXCLUDED.name, cu.name)
        RETURNING cu.id, cu.email
    )
    SELECT c.id, c.email, nextval('tickets.ticket_number_seq') AS number,
           ARRAY(SELECT g.group_id FROM tickets.customer_group_member g
                 WHERE g.customer_id = c.id) AS group_ids
    FROM c
    """
)
_CUSTOMER_BY_ID = text(
    """
    SELECT c.id, c.email, nextval('tickets.ticket_number_seq') AS number,
           ARRAY(SELECT g.group_id FROM tickets.customer_group_member g
                 WHERE g.customer_id = c.id) AS group_ids
    FROM tickets.customer c WHERE c.id = :id
    """
)
_NO_CUSTOMER = text("SELECT nextval('tickets.ticket_number_seq') AS number")


async def _customer_and_number(
    session: AsyncSession, data: TicketCreate, now: datetime, ctx: SnapshotContext
) -> tuple[uuid.UUID | None, int]:
    """Find or create the customer and draw the ticket number, in one round trip."""
    if data.customer_id is not None:
        row = (await session.execute(_CUSTOMER_BY_ID, {"id": data.customer_id})).first()
        if row is None:
            raise Unprocessable(
                f"customer_id: no customer with id {data.customer_id}", code="unknown_reference"
            )
    elif data.customer is not None:
        ref = data.customer
        row = (
            await session.execute(
                _CUSTOMER_BY_EMAIL,
                {
                    "id": uuid.uuid4(),
                    "name": ref.name,
                    "email": ref.email.lower() if ref.email else None,
                    "phone": ref.phone,
                    "now": now,
                },
            )
        ).one()
    else:
        return None, int((await session.execute(_NO_CUSTOMER)).one().number)
    ctx.customer_email = row.email
    ctx.customer_group_ids = list(row.group_ids)
    return row.id, int(row.number)


async def create_ticket(
    session: AsyncSession, data: TicketCreate, origin: Origin, now: datetime, topics: Topics
) -> TicketEditor:
    if (
        data.status in ("chatting", "calling")
        and data.channel != {"chatting": "chat", "calling": "call"}[data.status]
    ):
        raise Conflict(
            f"status: {data.status} does not fit a {data.channel} ticket", code="invalid_transition"
        )
    ctx = SnapshotContext()
    customer_id, number = await _customer_and_number(session, data, now, ctx)
    custom_fields = await validate_custom_fields(SessionStore(session), data.custom_fields)
    ticket = new_ticket(
        data,
        now,
        number=number,
        code=ticket_code(number),
        customer_id=customer_id,
        custom_fields={k: v for k, v in custom_fields.items() if v is not None},
    )
    editor = TicketEditor(session, ticket, origin, now, topics, context=ctx)
    editor.mark_created()
    if data.department_id is not None or data.agent_id is not None:
        await editor.transfer(
            department_id=data.department_id,
            agent_id=data.agent_id,
            department_given=data.department_id is not None,
            agent_given=data.agent_id is not None,
        )
    if data.tags:
        await editor.set_tags(data.tags)
    if data.message is not None:
        m = data.message
        await editor.add_message(
            author_kind=m.author_kind,
            author_id=m.author_id or (customer_id if m.author_kind == "customer" else None),
            body=m.body,
            internal=m.internal,
            from_address=m.from_address or ctx.customer_email,
            to=m.to,
            cc=m.cc,
            bcc=m.bcc,
            subject=m.subject or data.subject,
        )
    await editor.save_new()
    return editor


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
