"""The processed mark, written by the handlers themselves (the worker's ConsumerRunner runs
with ``dedupe="handler"``): it commits with the event's own short transaction, before the
write-backs that follow it."""

from __future__ import annotations

from typing import Any

from helpdesk_events import HandlerContext


async def claim(db: Any, ctx: HandlerContext) -> bool:
    """Mark the event processed inside the caller's transaction; False (and the context
    told) when it already was."""
    dedupe = ctx.dedupe
    if dedupe is None:
        raise RuntimeError('the router needs ConsumerRunner(dedupe="handler")')
    status = await db.execute(
        f"INSERT INTO {dedupe.table} (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        dedupe.consumer,
        dedupe.event_id,
    )
    if status == "INSERT 0 0":
        ctx.duplicate()
        return False
    return True
