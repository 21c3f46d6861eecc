"""The "to solve" queue: an agent asks for the next ticket and gets the first waiting one
in queue order (nearest SLA due date, then oldest: ``QUEUE_ORDER``) of their departments
on a channel where they have a free slot. ``FOR UPDATE SKIP LOCKED``
hands two agents asking at once two different tickets, whichever process serves them; the
assignment is reserved, committed and written back like every other
(routing/assignment.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_service.errors import Conflict, Unprocessable
from helpdesk_ticket_client import TicketApiClient
from sqlalchemy.ext.asyncio import AsyncEngine

from ..models import WAITING
from .assignment import Assignment, autocommit_connection, lock_agent, reserve, write_back
from .distribution import QUEUE_ORDER, Waiting
from .policies import ROUTING_CHANNELS, default_profile

# Tickets that changed under the queue (ticket-api refused the assignment) are passed over;
# after this many the agent is told to ask again rather than kept waiting.
ATTEMPTS = 5

_AGENT = "SELECT department_ids FROM routing.agent WHERE id = $1 AND active"
# The agent's load and maximum on every channel they hold or have a profile for.
_SLOTS = """
SELECT channel, load, NULL::integer AS max_load FROM routing.agent_load WHERE agent_id = $1
UNION ALL
SELECT channel, 0, max_load FROM routing.agent_channel_profile WHERE agent_id = $1
"""
_FIRST_IN_QUEUE = f"""
SELECT t.id, t.department_id, t.channel, t.version
FROM routing.ticket AS t
WHERE t.state = '{WAITING}' AND t.department_id = ANY($1::uuid[])
  AND t.channel = ANY($2::varchar[]) AND NOT t.id = ANY($3::uuid[])
ORDER BY {QUEUE_ORDER}
LIMIT 1
FOR UPDATE OF t SKIP LOCKED
"""
_WAITS_ON = f"""
SELECT t.channel FROM routing.ticket AS t
WHERE t.state = '{WAITING}' AND t.department_id = ANY($1::uuid[])
  AND t.channel = ANY($2::varchar[])
ORDER BY {QUEUE_ORDER}
LIMIT 1
"""


async def take_next(
    engine: AsyncEngine, ticket_api: TicketApiClient, agent_id: uuid.UUID, now: datetime
) -> Waiting | None:
    """Assign the agent the first waiting ticket in queue order of their departments on
    a channel where they have a free slot; None when nothing waits there. A 409 when work
    waits only on channels where the agent is at their maximum load."""
    async with autocommit_connection(engine) as db:
        passed_over: list[uuid.UUID] = []
        for _ in range(ATTEMPTS):
            async with db.transaction():
                departments = await db.fetchval(_AGENT, agent_id)
                if departments is None:
                    raise Unprocessable(
                        f"agent_id: the router knows no active agent {agent_id} (agents reach "
                        "it through ticket-api's agent events)"
                    )
                slots = await _slots(db, agent_id)
                free = [channel for channel, (load, most) in slots.items() if load < most]
                row = await db.fetchrow(_FIRST_IN_QUEUE, departments, free, passed_over)
                if row is None:
                    full = [channel for channel in slots if channel not in free]
                    await _refuse_if_full(db, agent_id, departments, full, slots)
                    return None
                ticket = Waiting(**dict(row))
                await lock_agent(db, agent_id, wait=True)
                pending = await reserve(
                    db,
                    Assignment(
                        ticket_id=ticket.id,
                        agent_id=agent_id,
                        channel=ticket.channel,
                        version=ticket.version,
                        max_load=slots[ticket.channel][1],
                        idempotency_key=f"router:next:{ticket.id}:{ticket.version}:{agent_id}",
                        method="pull",
                        actor_name="router (next in to-solve queue)",
                        reason=(
                            "asked for the next ticket: the first waiting in their "
                            "departments (nearest SLA due date, then oldest) on a channel "
                            "with a free slot"
                        ),
                        candidates=[],
                    ),
                    now,
                )
                if pending is None:
                    # A decision filled the agent's last slot on the channel meanwhile.
                    passed_over.append(ticket.id)
                    continue
            written = await write_back(db, ticket_api, pending)
            if written.version is not None:
                return Waiting(ticket.id, ticket.department_id, ticket.channel, written.version)
            passed_over.append(ticket.id)
    return None


async def _slots(db: Any, agent_id: uuid.UUID) -> dict[str, tuple[int, int]]:
    """(load, maximum load) on every routing channel."""
    loads: dict[str, int] = {}
    maximums = {channel: default_profile(channel).max_load for channel in ROUTING_CHANNELS}
    for row in await db.fetch(_SLOTS, agent_id):
        if row["max_load"] is None:
            loads[row["channel"]] = row["load"]
        else:
            maximums[row["channel"]] = row["max_load"]
    return {channel: (loads.get(channel, 0), most) for channel, most in maximums.items()}


async def _refuse_if_full(
    db: Any,
    agent_id: uuid.UUID,
    departments: list[uuid.UUID],
    full: list[str],
    slots: dict[str, tuple[int, int]],
) -> None:
    channel = await db.fetchval(_WAITS_ON, departments, full) if full else None
    if channel is not None:
        load, most = slots[channel]
        raise Conflict(
            f"agent {agent_id} is at their maximum load on {channel} ({load} of {most}): "
            f"{channel} tickets wait, and the next is handed out once a slot frees"
        )
