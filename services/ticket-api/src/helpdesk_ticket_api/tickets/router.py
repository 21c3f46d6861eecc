"""/v1/tickets: tickets, their messages, ratings, history, and services' write-back actions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from helpdesk_events import Actor
from helpdesk_events.vocabulary import Channel, TicketStatus
from helpdesk_service.errors import Forbidden, NotFound, Unprocessable
from helpdesk_service.pagination import (
    Cursor,
    decode_cursor,
    encode_cursor,
    oldest_first_page,
    time_id_cursor,
)
from helpdesk_service.query import QueryDateTime
from helpdesk_service.responses import JsonResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import idempotency
from ..auth import AdminOnly, AdminOrService, AnyRole, Principal, authenticate, require
from ..deps import AppContext, Ctx, Session
from ..models import Customer, HistoryEntry, Message, Rating, Ticket
from ..origin import Origin, origin_of
from . import schemas as s
from . import writeback
from .changes import TicketEditor, purge_ticket
from .creation import create_ticket
from .request_parts import RequestParts, documented
from .service import (
    after_cursor,
    can_see,
    get_visible,
    lock_visible,
    ticket_filters,
    visible_to,
)
from .snapshot import SnapshotContext, load_context, ticket_snapshot
from .statements import SessionStore

_ANY_ROLE = require("admin", "agent", "service")
_ADMIN_OR_SERVICE = require("admin", "service")
_IDEMPOTENCY_KEY = "Idempotency-Key"
_CORRELATION_ID = "X-Correlation-Id"

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]
CorrelationId = Annotated[uuid.UUID | None, Header(alias="X-Correlation-Id")]


async def _ticket_out(
    session: Session, ticket: Ticket, editor: TicketEditor | None = None
) -> dict[str, Any]:
    if editor is not None and editor.events:
        snapshot = editor.events[-1].ticket  # type: ignore[attr-defined]
    else:
        snapshot = ticket_snapshot(ticket, await load_context(session, ticket))
    out: dict[str, Any] = snapshot.model_dump(mode="json")
    return out


async def _respond(
    request: Request,
    session: Session,
    principal: Principal,
    key: str | None,
    body: Callable[[], Any],
    run: Callable[[], Awaitable[tuple[int, Any]]],
) -> JsonResponse:
    """Run a write once per Idempotency-Key, commit, and answer. ``body`` gives what
    identifies the request (only computed when there is a key)."""
    if key is not None:
        digest = idempotency.request_hash(request.url.path, body())
        stored = await idempotency.claim(
            session, principal.principal_id, key, digest, request.app.state.clock.now()
        )
        if stored is not None:
            return JsonResponse(
                stored.body, stored.status_code, headers={"Idempotent-Replayed": "true"}
            )
    status, payload = await run()
    if key is not None:
        await idempotency.store(session, principal.principal_id, key, status, payload)
    await session.commit()
    return JsonResponse(payload, status)


def _customer_acted(origin: Origin, customer_id: uuid.UUID | None, name: str | None) -> Origin:
    """``origin`` with the customer as the actor: the integration or service that posts a
    customer's message or rating is only the messenger."""
    return Origin(
        actor=Actor(kind="customer", id=str(customer_id) if customer_id else None, name=name),
        correlation_id=origin.correlation_id,
    )


@dataclass(frozen=True)
class TicketChange:
    """A change to one ticket by the caller: who, which ticket, in which request."""

    session: AsyncSession
    principal: Principal
    ctx: AppContext
    ticket_id: uuid.UUID
    correlation_id: uuid.UUID | None

    @property
    def origin(self) -> Origin:
        return origin_of(self.principal, self.correlation_id)

    async def lock(self) -> tuple[Ticket, SnapshotContext]:
        """The ticket, locked for the change, if the caller may see it (404 otherwise)."""
        return await lock_visible(self.session, self.principal, self.ticket_id)

    def editor(self, ticket: Ticket, context: SnapshotContext, origin: Origin) -> TicketEditor:
        return TicketEditor(
            self.session, ticket, origin, self.ctx.clock.now(), self.ctx.topics, context=context
        )

    async def apply(self, change: Callable[[TicketEditor], Awaitable[None] | None]) -> JsonResponse:
        """Lock the ticket, run ``change`` on its editor, save the change with its events and
        history, commit, and answer with the new snapshot. ``change`` may be a coroutine (the
        editor's async rules) or a plain call (its synchronous ones)."""
        ticket, context = await self.lock()
        editor = self.editor(ticket, context, self.origin)
        pending = change(editor)
        if pending is not None:
            await pending
        await editor.save()
        payload = await _ticket_out(self.session, ticket, editor)
        await self.session.commit()
        return JsonResponse(payload)


def _ticket_change(role: Any) -> Any:
    """The dependency that gives a ``TicketChange`` to a caller with ``role``."""

    async def ticket_change(
        ticket_id: uuid.UUID,
        session: Session,
        ctx: Ctx,
        correlation_id: CorrelationId = None,
        principal: Principal = role,
    ) -> TicketChange:
        return TicketChange(session, principal, ctx, ticket_id, correlation_id)

    return Depends(ticket_change)


ChangeTicket = Annotated[TicketChange, _ticket_change(AnyRole)]
PurgeTicket = Annotated[TicketChange, _ticket_change(AdminOnly)]
RateTicket = Annotated[TicketChange, _ticket_change(AdminOrService)]


@router.post(
    "",
    status_code=201,
    response_model=s.TicketOut,
    openapi_extra=documented(
        s.TicketCreate,
        headers={
            _IDEMPOTENCY_KEY: (str, "create the ticket once per key"),
            _CORRELATION_ID: (uuid.UUID, "carried by the ticket's history and events"),
        },
    ),
)
async def create(request: Request) -> JsonResponse:
    """Create a ticket, optionally with its first message and the customer (found by e-mail)."""
    # The hottest route: its parts are read by hand (request_parts.py) as FastAPI reads
    # declared ones, and the key checked as ``AnyRole`` would.
    principal = await _ANY_ROLE(await authenticate(request))
    parts = RequestParts(request)
    idempotency_key = parts.header(_IDEMPOTENCY_KEY)
    correlation_id = parts.header_uuid(_CORRELATION_ID)
    data = await parts.body(s.TicketCreate)
    if principal.role == "agent" and data.message and data.message.author_kind == "agent":
        data.message.author_id = principal.agent_id

    key = None
    if idempotency_key is not None:
        digest = idempotency.request_hash(request.url.path, data.model_dump(mode="json"))
        key = (principal.principal_id, idempotency_key, digest)
    snapshot, replayed = await create_ticket(
        request.app.state.pg,
        data,
        origin_of(principal, correlation_id),
        request.app.state.clock.now(),
        request.app.state.topics,
        idempotency_key=key,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JsonResponse(snapshot, 201, headers=headers)


@router.post(
    "/{ticket_id}/actions",
    response_model=s.ActionResult,
    openapi_extra=documented(
        s.ActionBatch,
        path={"ticket_id": "the ticket to change"},
        headers={_IDEMPOTENCY_KEY: (str, "required: the batch is applied once per key")},
    ),
)
async def apply_actions(request: Request) -> JsonResponse:
    """Services' write-back: apply a batch of actions in one transaction, once per
    ``Idempotency-Key`` (required), recording ``actor`` and causation in the history."""
    # The second hottest route: its parts are read by hand (request_parts.py) as FastAPI
    # reads declared ones, and the key checked as ``AdminOrService`` would.
    principal = await _ADMIN_OR_SERVICE(await authenticate(request))
    parts = RequestParts(request)
    ticket_id = parts.path_uuid("ticket_id")
    idempotency_key = parts.header(_IDEMPOTENCY_KEY)
    batch = await parts.body(s.ActionBatch)
    if idempotency_key is None:
        raise Unprocessable(
            "Idempotency-Key header: required for write-backs, e.g. '<event id>:<rule id>'",
            code="idempotency_key_required",
        )
    (outcome,) = await writeback.apply_write_backs(
        request.app.state.pg,
        # The header's key was checked by check_key, with its own messages.
        [
            s.WriteBack.model_construct(
                ticket_id=ticket_id, idempotency_key=idempotency_key, batch=batch
            )
        ],
        principal_id=principal.principal_id,
        now=request.app.state.clock.now(),
        topics=request.app.state.topics,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JsonResponse(outcome.body, outcome.status, headers=headers)


@router.post(
    "/actions",
    response_model=s.WriteBackOutcomes,
    openapi_extra=documented(s.WriteBacks, headers={}),
)
async def apply_actions_to_tickets(request: Request) -> JsonResponse:
    """Services' write-backs, several at once (up to 200): each as ``POST
    /v1/tickets/{id}/actions`` would apply it alone (its ``idempotency_key`` for the header),
    all in one transaction, where a refused one rolls back only itself. Answers 200 with
    each one's status and body in the order given; ``idempotency_key`` must differ within
    a request."""
    # Read by hand as the single write-back is (request_parts.py), the key checked as
    # ``AdminOrService`` would.
    principal = await _ADMIN_OR_SERVICE(await authenticate(request))
    data = await RequestParts(request).body(s.WriteBacks)
    outcomes = await writeback.apply_write_backs(
        request.app.state.pg,
        data.items,
        principal_id=principal.principal_id,
        now=request.app.state.clock.now(),
        topics=request.app.state.topics,
    )
    return JsonResponse(
        {
            "results": [
                {"status": o.status, "body": o.body, "replayed": o.replayed} for o in outcomes
            ]
        }
    )


@router.get("", response_model=s.TicketPage)
async def list_tickets(
    session: Session,
    status: Annotated[list[TicketStatus] | None, Query()] = None,
    department_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    unassigned: bool | None = None,
    customer_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    priority: s.Priority | None = None,
    tag: str | None = None,
    include_deleted: bool = False,
    created_after: QueryDateTime | None = None,
    created_before: QueryDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    principal: Principal = AnyRole,
) -> JsonResponse:
    """Tickets newest first, filtered; follow ``next_cursor`` for the next page."""
    query = select(Ticket).where(
        *ticket_filters(
            status=list(status) if status else None,
            department_id=department_id,
            agent_id=agent_id,
            unassigned=unassigned,
            customer_id=customer_id,
            channel=channel,
            priority=priority,
            tag=tag,
            include_deleted=include_deleted,
            created_after=created_after,
            created_before=created_before,
        )
    )
    if cursor:
        query = query.where(after_cursor(*time_id_cursor(cursor)))
    query = visible_to(principal, query).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    rows = list((await session.execute(query.limit(limit + 1))).scalars())
    items = [await _ticket_out(session, t) for t in rows[:limit]]
    next_cursor = (
        encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return JsonResponse({"items": items, "next_cursor": next_cursor})


@router.get("/{ticket_id}", response_model=s.TicketOut)
async def get_ticket(
    ticket_id: uuid.UUID, session: Session, principal: Principal = AnyRole
) -> JsonResponse:
    ticket = await get_visible(session, principal, ticket_id)
    return JsonResponse(await _ticket_out(session, ticket))


@router.patch("/{ticket_id}", response_model=s.TicketOut)
async def patch_ticket(data: s.TicketPatch, edit: ChangeTicket) -> JsonResponse:
    """Change fields; status, responsibility and tags changes each emit their own event."""
    given = data.model_fields_set
    if not given:
        raise Unprocessable("give at least one field to change")

    async def change(editor: TicketEditor) -> None:
        # PatchModel refused null for these: a given field holds a value.
        if data.subject is not None:
            editor.set_subject(data.subject)
        if data.status is not None:
            editor.set_status(data.status)
        if data.priority is not None:
            editor.set_priority(data.priority)
        if "department_id" in given or "agent_id" in given:
            await editor.transfer(
                department_id=data.department_id,
                agent_id=data.agent_id,
                department_given="department_id" in given,
                agent_given="agent_id" in given,
            )
        if "sla_level" in given:
            editor.set_sla_level(data.sla_level)
        if data.tags is not None:
            await editor.set_tags(data.tags)
        if data.custom_fields is not None:
            await editor.set_custom_fields(data.custom_fields)
        if "referrer_url" in given:
            editor.set_referrer_url(data.referrer_url)

    return await edit.apply(change)


@router.post("/{ticket_id}/transfer", response_model=s.TicketOut)
async def transfer(data: s.TransferIn, edit: ChangeTicket) -> JsonResponse:
    """Move responsibility: to a department (unassigned there), an agent, or both."""
    given = data.model_fields_set

    async def change(editor: TicketEditor) -> None:
        await editor.transfer(
            department_id=data.department_id,
            agent_id=data.agent_id,
            department_given="department_id" in given,
            agent_given="agent_id" in given,
        )

    return await edit.apply(change)


@router.post("/{ticket_id}/tags", response_model=s.TicketOut)
async def add_tags(data: s.TagsIn, edit: ChangeTicket) -> JsonResponse:
    return await edit.apply(lambda editor: editor.add_tags(data.tags))


def _tag_in_path(tag: str) -> str:
    return tag


# Read as a dependency after ``ChangeTicket``'s: FastAPI documents (and checks) an endpoint's
# own parameters before its dependencies', and generated clients take the path's parameters
# in the documented order, which stays the path's (ticket_id, then tag).
TagInPath = Annotated[str, Depends(_tag_in_path)]


@router.delete("/{ticket_id}/tags/{tag}", response_model=s.TicketOut)
async def remove_tag(edit: ChangeTicket, tag: TagInPath) -> JsonResponse:
    return await edit.apply(lambda editor: editor.remove_tags([tag]))


@router.post("/{ticket_id}/not-spam", response_model=s.TicketOut)
async def not_spam(edit: ChangeTicket) -> JsonResponse:
    """Take a ticket out of spam (mark spam with PATCH status=spam)."""
    return await edit.apply(lambda editor: editor.mark_not_spam())


@router.delete("/{ticket_id}", response_model=s.TicketOut)
async def delete_ticket(edit: ChangeTicket) -> JsonResponse:
    """Soft delete: the ticket moves to status deleted and can be restored or purged."""
    return await edit.apply(lambda editor: editor.delete())


@router.post("/{ticket_id}/restore", response_model=s.TicketOut)
async def restore_ticket(edit: ChangeTicket) -> JsonResponse:
    return await edit.apply(lambda editor: editor.restore())


@router.post("/{ticket_id}/purge", status_code=204)
async def purge(edit: PurgeTicket) -> JsonResponse:
    """Remove a deleted or spam ticket for good. Its history stays readable."""
    ticket, context = await edit.lock()
    await purge_ticket(
        SessionStore(edit.session),
        ticket,
        edit.origin,
        edit.ctx.clock.now(),
        edit.ctx.topics,
        context=context,
    )
    await edit.session.commit()
    return JsonResponse(None, 204)


@router.post("/{ticket_id}/messages", status_code=201, response_model=s.MessageOut)
async def add_message(
    ticket_id: uuid.UUID,
    data: s.MessageIn,
    request: Request,
    session: Session,
    ctx: Ctx,
    idempotency_key: IdemKey = None,
    correlation_id: CorrelationId = None,
    principal: Principal = AnyRole,
) -> JsonResponse:
    """Add a customer message, an agent reply, or an internal note (``internal: true``).

    A customer message reopens an answered, postponed or resolved ticket; an agent reply
    marks it answered and, if nobody was responsible yet, makes the agent responsible."""
    if principal.role == "agent":
        if data.author_kind != "agent":
            raise Forbidden("agents write messages as themselves: author_kind must be agent")
        data.author_id = principal.agent_id

    async def run() -> tuple[int, Any]:
        ticket, context = await lock_visible(session, principal, ticket_id)
        origin = origin_of(principal, correlation_id)
        customer_id = customer_email = None
        if data.author_kind == "customer":
            customer_id = ticket.customer_id
            customer = await session.get(Customer, customer_id) if customer_id else None
            author_id = data.author_id or customer_id
            origin = _customer_acted(
                origin, author_id, customer.name if customer and customer.id == author_id else None
            )
            customer_email = customer.email if customer else None
        editor = TicketEditor(session, ticket, origin, ctx.clock.now(), ctx.topics, context=context)
        message = await editor.add_message(data, author_id=customer_id, from_address=customer_email)
        await editor.save()
        return 201, s.MessageOut.model_validate(message).model_dump(mode="json", by_alias=True)

    return await _respond(
        request, session, principal, idempotency_key, lambda: data.model_dump(mode="json"), run
    )


@router.get("/{ticket_id}/messages", response_model=s.MessagePage)
async def list_messages(
    ticket_id: uuid.UUID,
    session: Session,
    include_internal: bool = True,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
    principal: Principal = AnyRole,
) -> JsonResponse:
    """Messages oldest first."""
    await get_visible(session, principal, ticket_id)
    query = select(Message).where(Message.ticket_id == ticket_id)
    if not include_internal:
        query = query.where(Message.internal.is_(False))
    rows, next_cursor = await oldest_first_page(session, Message, query, limit, cursor)
    items = [s.MessageOut.model_validate(m).model_dump(mode="json", by_alias=True) for m in rows]
    return JsonResponse({"items": items, "next_cursor": next_cursor})


@router.post("/{ticket_id}/ratings", status_code=201, response_model=s.RatingOut)
async def rate(data: s.RatingIn, edit: RateTicket) -> JsonResponse:
    """Record the customer's rating of the agent responsible for the ticket."""
    ticket, context = await edit.lock()
    origin = edit.origin
    if ticket.customer_id is not None:
        customer = await edit.session.get(Customer, ticket.customer_id)
        origin = _customer_acted(origin, ticket.customer_id, customer.name if customer else None)
    editor = edit.editor(ticket, context, origin)
    rating = editor.rate(data.rating, data.comment)
    await editor.save()
    payload = s.RatingOut.model_validate(rating).model_dump(mode="json")
    await edit.session.commit()
    return JsonResponse(payload, 201)


@router.get("/{ticket_id}/ratings", response_model=list[s.RatingOut])
async def list_ratings(
    ticket_id: uuid.UUID, session: Session, principal: Principal = AnyRole
) -> JsonResponse:
    await get_visible(session, principal, ticket_id)
    rows = (
        await session.execute(
            select(Rating).where(Rating.ticket_id == ticket_id).order_by(Rating.created_at)
        )
    ).scalars()
    return JsonResponse([s.RatingOut.model_validate(r).model_dump(mode="json") for r in rows])


@router.get("/{ticket_id}/history", response_model=s.HistoryPage)
async def history(
    ticket_id: uuid.UUID,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
    principal: Principal = AnyRole,
) -> JsonResponse:
    """Every change, oldest first: who or what made it, and the value before and after.

    The history of a purged ticket stays readable for admins and services."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        purged = await session.scalar(
            select(HistoryEntry.id).where(HistoryEntry.ticket_id == ticket_id).limit(1)
        )
        if purged is None or principal.role == "agent":
            raise NotFound(f"no ticket with id {ticket_id}")
    elif not can_see(principal, ticket):
        raise NotFound(f"no ticket with id {ticket_id}")
    query = select(HistoryEntry).where(HistoryEntry.ticket_id == ticket_id)
    if cursor:
        (after_id,) = decode_cursor(cursor, 1)
        if not after_id.isdigit():
            raise Unprocessable(
                "cursor: not a cursor this endpoint returned", code="invalid_cursor"
            )
        query = query.where(HistoryEntry.id > int(after_id))
    rows = list((await session.execute(query.order_by(HistoryEntry.id).limit(limit + 1))).scalars())
    items = [
        {
            "id": h.id,
            "occurred_at": h.occurred_at.isoformat(),
            "actor": {"kind": h.actor_kind, "id": h.actor_id, "name": h.actor_name},
            "action": h.action,
            "field": h.field,
            "before": h.before,
            "after": h.after,
            "event_id": str(h.event_id) if h.event_id else None,
            "correlation_id": str(h.correlation_id) if h.correlation_id else None,
            "causation_id": str(h.causation_id) if h.causation_id else None,
            "depth": h.depth,
        }
        for h in rows[:limit]
    ]
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return JsonResponse({"items": items, "next_cursor": next_cursor})
