"""``helpdesk.tickets`` → response clocks. Each handler works in the event's transaction
(the ConsumerRunner commits it with the processed-event mark), so a redelivered event
changes nothing twice. Times come from the events, not from when they are read."""

from __future__ import annotations

from helpdesk_events import (
    Handler,
    HandlerContext,
    MessageAdded,
    TicketCreated,
    TicketDeleted,
    TicketEventBase,
    TicketPurged,
    TicketRestored,
    TicketStatusChanged,
    TicketTransferred,
    TicketUpdated,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..clocks.levels import ResolvedLevel, department_level, resolve_level
from ..clocks.service import (
    change_level,
    clock_level,
    close_clock,
    follow_status,
    has_clocks,
    open_clocks,
    start_clock,
    target_kind,
)
from ..clocks.ticket_sla import note_ticket_states
from ..models import TicketState


async def _ticket_level(session: AsyncSession, event: TicketEventBase) -> ResolvedLevel | None:
    """The ticket's own level (rules, agents), else its department's default."""
    name = event.ticket.sla_level or await department_level(session, event.ticket.department_id)
    return await resolve_level(session, name) if name else None


async def on_ticket_created(event: TicketCreated, ctx: HandlerContext) -> None:
    # A ticket an agent opened with their own message has had its response.
    if event.message is not None and event.message.author_kind == "agent":
        return
    level = await _ticket_level(ctx.session, event)
    if level is None:
        return
    kind = target_kind(event.ticket.channel, first=True)
    start_clock(ctx.session, event.ticket, kind, event.ticket.created_at, level, ctx.clock.now())


async def _level_changed(event: TicketEventBase, ctx: HandlerContext, reason: str) -> None:
    session, now = ctx.session, ctx.clock.now()
    level = await _ticket_level(session, event)
    clocks = await open_clocks(session, event.ticket_id)
    if level is None:
        return
    for clock in clocks:
        if (clock.level_name, clock.level_version) != (level.name, level.version):
            change_level(clock, level, now, reason)
    # A ticket that gets its first level now, still without a reply, owes its first response
    # from its creation.
    owes_first_response = not clocks and event.ticket.first_agent_reply_at is None
    if owes_first_response and not await has_clocks(session, event.ticket_id):
        kind = target_kind(event.ticket.channel, first=True)
        start_clock(session, event.ticket, kind, event.ticket.created_at, level, now)


async def on_ticket_updated(event: TicketUpdated, ctx: HandlerContext) -> None:
    if "sla_level" in event.changes:
        await _level_changed(event, ctx, "ticket level changed")


async def on_ticket_transferred(event: TicketTransferred, ctx: HandlerContext) -> None:
    for clock in await open_clocks(ctx.session, event.ticket_id):
        clock.department_id = event.ticket.department_id
        clock.agent_id = event.ticket.agent_id
    # A ticket without its own level follows its new department's default.
    if event.ticket.sla_level is None and "department_id" in event.changes:
        await _level_changed(event, ctx, "department changed")


async def _follow_status(event: TicketEventBase, status: str, ctx: HandlerContext) -> None:
    for clock in await open_clocks(ctx.session, event.ticket_id):
        level = await clock_level(ctx.session, clock)
        follow_status(clock, status, event.occurred_at, level, ctx.clock.now())


async def on_status_changed(event: TicketStatusChanged, ctx: HandlerContext) -> None:
    await _follow_status(event, event.ticket.status, ctx)


async def on_ticket_deleted(event: TicketDeleted | TicketPurged, ctx: HandlerContext) -> None:
    await _follow_status(event, "deleted", ctx)


async def on_ticket_restored(event: TicketRestored, ctx: HandlerContext) -> None:
    await _follow_status(event, event.ticket.status, ctx)


async def on_message_added(event: MessageAdded, ctx: HandlerContext) -> None:
    message = event.message
    if message.internal or message.author_kind == "system":
        return
    session, now = ctx.session, ctx.clock.now()
    clocks = await open_clocks(session, event.ticket_id)
    if message.author_kind == "agent":
        for clock in clocks:
            close_clock(clock, message.created_at, await clock_level(session, clock), now)
        return
    # A customer message while no response is owed starts the next response's clock.
    if clocks or not await has_clocks(session, event.ticket_id):
        return
    level = await _ticket_level(session, event)
    if level is not None:
        kind = target_kind(event.ticket.channel, first=False)
        start_clock(session, event.ticket, kind, message.created_at, level, now)


async def remember_snapshot(event: TicketEventBase, ctx: HandlerContext) -> None:
    """Keep the newest snapshot (by the ticket's version) for the events the scan publishes."""
    statement = pg_insert(TicketState).values(
        ticket_id=event.ticket_id,
        version=event.ticket.version,
        snapshot=event.ticket.model_dump(mode="json"),
    )
    await ctx.session.execute(
        statement.on_conflict_do_update(
            index_elements=[TicketState.ticket_id],
            set_={"version": statement.excluded.version, "snapshot": statement.excluded.snapshot},
            where=TicketState.version < statement.excluded.version,
        )
    )


async def _nothing_else(event: TicketEventBase, ctx: HandlerContext) -> None:
    """Tags, ratings: only the snapshot changes for the tracker."""


def _with_snapshot(handler: Handler) -> Handler:
    """Every event's snapshot is kept, and what its handler did to the clocks stamps the
    ticket's SLA state for the write-back."""

    async def handle(event: TicketEventBase, ctx: HandlerContext) -> None:
        await remember_snapshot(event, ctx)
        await handler(event, ctx)
        await note_ticket_states(ctx.session, [event.ticket_id])

    return handle


def handlers() -> dict[str, Handler]:
    table: dict[str, Handler] = {
        "ticket.created": on_ticket_created,
        "ticket.updated": on_ticket_updated,
        "ticket.transferred": on_ticket_transferred,
        "ticket.status_changed": on_status_changed,
        "ticket.tags_changed": _nothing_else,
        "ticket.rated": _nothing_else,
        "ticket.deleted": on_ticket_deleted,
        "ticket.purged": on_ticket_deleted,
        "ticket.restored": on_ticket_restored,
        "message.added": on_message_added,
    }
    return {event_type: _with_snapshot(handler) for event_type, handler in table.items()}
