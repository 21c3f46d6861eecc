"""POST /v1/tickets/search: the tickets a condition set matches.

The conditions are the rules' own language (helpdesk_conditions), compiled to SQL, so a
search selects exactly the tickets a rule with those conditions would accept. The
scheduler finds time rules' tickets here; ``at`` evaluates relative times ("older than
48 hours") at a given instant instead of now.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from fastapi import APIRouter, Request
from helpdesk_conditions import (
    ConditionError,
    ConditionSet,
    CustomField,
    CustomFieldType,
    TicketTables,
    compile_sql,
)
from helpdesk_service.errors import Unprocessable
from helpdesk_service.pagination import encode_cursor, time_id_cursor
from helpdesk_service.responses import JsonResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..auth import AnyRole, Principal
from ..deps import Session
from ..models import Agent, CustomerGroupMember, CustomFieldDefinition, Message, Ticket
from . import schemas as s
from .router import _ticket_out
from .service import after_cursor, visible_to

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

TABLES = TicketTables(
    ticket=Ticket.__table__,
    message=Message.__table__,
    customer_group_member=CustomerGroupMember.__table__,
    agent=Agent.__table__,
)


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conditions: ConditionSet
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    include_deleted: bool = False
    at: AwareDatetime | None = Field(
        default=None,
        description="Evaluate relative times (older_than, within_last) at this instant "
        "instead of now. Pass a page's `at` back with its cursor for stable pages.",
    )


class SearchPage(BaseModel):
    items: list[s.TicketOut]
    next_cursor: str | None
    at: datetime = Field(description="The instant relative times were evaluated at")


async def _custom_fields(session: Session) -> list[CustomField]:
    rows = await session.execute(
        select(CustomFieldDefinition.key, CustomFieldDefinition.type, CustomFieldDefinition.options)
    )
    # The table's check constraint keeps type to the five custom field types.
    return [
        CustomField(key, cast(CustomFieldType, type_), tuple(options or ()))
        for key, type_, options in rows
    ]


@router.post("/search", response_model=SearchPage)
async def search_tickets(
    data: SearchIn, request: Request, session: Session, principal: Principal = AnyRole
) -> JsonResponse:
    """Tickets matching ``conditions``, newest first; follow ``next_cursor``.

    Agents see only their departments' tickets and their own. ``changed`` / ``changed_to``
    / ``changed_from`` test the event that triggered a rule and are refused here."""
    now = data.at or request.app.state.clock.now()
    try:
        clause = compile_sql(
            data.conditions, TABLES, now=now, custom_fields=await _custom_fields(session)
        )
    except ConditionError as exc:
        raise Unprocessable(
            "; ".join(str(issue) for issue in exc.issues[:5]),
            details=[issue.as_detail() for issue in exc.issues],
        ) from None
    query = select(Ticket).where(clause)
    if not data.include_deleted:
        query = query.where(Ticket.deleted_at.is_(None))
    if data.cursor:
        query = query.where(after_cursor(*time_id_cursor(data.cursor)))
    query = visible_to(principal, query).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    limit = data.limit
    rows = list((await session.execute(query.limit(limit + 1))).scalars())
    items = [await _ticket_out(session, ticket) for ticket in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return JsonResponse(
        {
            "items": items,
            "next_cursor": encode_cursor(last.created_at, last.id) if last else None,
            "at": now.isoformat(),
        }
    )
