"""``notification.requested`` (topic ``helpdesk.notifications``): the rule engine's e-mails
and HTTP calls, stored as deliveries in the event's transaction. The consumer dedupes by
event id; the delivery's dedupe key covers a rule re-run that produced a new event."""

from __future__ import annotations

from typing import Any

from helpdesk_events import HandlerContext, NotificationRequested

from ..delivery.store import store_request


async def on_notification_requested(event: NotificationRequested, ctx: HandlerContext) -> None:
    await store_request(
        ctx.session,
        event.request,
        now=ctx.clock.now(),
        event_id=event.id,
        ticket_id=event.ticket_id,
    )


def handlers() -> dict[str, Any]:
    return {"notification.requested": on_notification_requested}
