"""The router's agents: departments, availability per channel and the active flag, as the
newest word on them said — an agent event, or ticket-api itself when the worker starts.

The worker reads every agent from ticket-api before it consumes (``sync_agents``): a
router whose ``routing`` schema is new, or that missed agent events, then knows the whole
account, so a ticket is not given to the one agent it happens to have heard of as if the
account had only one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from helpdesk_events import AgentSnapshot
from helpdesk_ticket_client import TicketApiClient

# A row is only replaced by news as new or newer than what it holds.
_RECORD = """
INSERT INTO routing.agent (id, department_ids, availability, active, changed_at)
VALUES ($1, $2::uuid[], $3::jsonb, $4, $5)
ON CONFLICT (id) DO UPDATE SET
    department_ids = excluded.department_ids, availability = excluded.availability,
    active = excluded.active, changed_at = excluded.changed_at
WHERE routing.agent.changed_at <= excluded.changed_at
"""


async def record_agent(db: Any, agent: AgentSnapshot, changed_at: datetime) -> bool:
    """Keep what ``agent`` says unless the row holds newer news; whether it was kept."""
    status = await db.execute(
        _RECORD,
        agent.id,
        list(agent.department_ids),
        orjson.dumps(agent.availability).decode(),
        agent.active,
        changed_at,
    )
    return bool(status != "INSERT 0 0")


async def sync_agents(db: Any, ticket_api: TicketApiClient) -> int:
    """Every agent ticket-api has, recorded as of its last change; how many."""
    synced = 0
    async for item in ticket_api.agents():
        await record_agent(
            db, AgentSnapshot.model_validate(item), datetime.fromisoformat(item["updated_at"])
        )
        synced += 1
    return synced
