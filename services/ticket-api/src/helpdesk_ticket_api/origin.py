"""Who caused a change, and which request or event it belongs to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from helpdesk_events import Actor

from .auth import Principal


@dataclass(frozen=True)
class Origin:
    actor: Actor
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    depth: int = 0


def origin_of(principal: Principal, correlation_id: uuid.UUID | None = None) -> Origin:
    """The origin of a change a client made directly with its API key."""
    if principal.role == "agent" and principal.agent_id is not None:
        actor = Actor(
            kind="agent", id=str(principal.agent_id), name=principal.agent_name or principal.name
        )
    else:
        actor = Actor(kind=principal.role, id=str(principal.key_id), name=principal.name)
    return Origin(actor=actor, correlation_id=correlation_id or uuid.uuid4())
