"""API keys with roles (admin, agent, service), stored hashed.

Keys are long random secrets, so a SHA-256 digest is enough to store and look them up.
A verified key is trusted for ``api_key_cache_seconds`` without asking the database again,
so a revoked key stops working within that time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from fastapi import Depends, Request
from helpdesk_service.auth import role_guard
from helpdesk_service.errors import Unauthorized
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Agent, AgentDepartment, ApiKey

Role = Literal["admin", "agent", "service"]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return "hd_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    name: str
    role: Role
    agent_id: uuid.UUID | None = None
    # For agent keys: the agent's own name, which the history shows (not the key's name).
    agent_name: str | None = None
    # For agents: the departments whose tickets they may see.
    department_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def principal_id(self) -> str:
        return str(self.key_id)


class KeyCache:
    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self._ttl, principal)

    def clear(self) -> None:
        self._entries.clear()


async def ensure_bootstrap_key(
    sessions: async_sessionmaker[AsyncSession], key: str, role: Role, name: str, now: datetime
) -> None:
    """Store a key given by the environment (the bootstrap admin / service key)."""
    async with sessions() as session, session.begin():
        await session.execute(
            pg_insert(ApiKey)
            .values(
                id=uuid.uuid4(),
                name=name,
                key_hash=hash_key(key),
                prefix=key[:8],
                role=role,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[ApiKey.key_hash])
        )


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    digest = hash_key(token.strip())
    state = request.app.state
    principal: Principal | None = state.key_cache.get(digest)
    if principal is None:
        async with state.sessions() as session:
            row = (
                await session.execute(
                    select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
                )
            ).scalar_one_or_none()
            if row is None:
                raise Unauthorized("unknown or revoked API key")
            departments: frozenset[uuid.UUID] = frozenset()
            agent_name: str | None = None
            if row.role == "agent" and row.agent_id is not None:
                agent = (
                    await session.execute(
                        select(Agent.name, Agent.active).where(Agent.id == row.agent_id)
                    )
                ).one_or_none()
                # A deactivated agent's keys stop working with them.
                if agent is None or not agent.active:
                    raise Unauthorized("the agent this API key belongs to is deactivated")
                agent_name = agent.name
                departments = frozenset(
                    (
                        await session.execute(
                            select(AgentDepartment.department_id).where(
                                AgentDepartment.agent_id == row.agent_id
                            )
                        )
                    ).scalars()
                )
        principal = Principal(
            key_id=row.id,
            name=row.name,
            role=row.role,
            agent_id=row.agent_id,
            agent_name=agent_name,
            department_ids=departments,
        )
        state.key_cache.put(digest, principal)
    return principal


require = role_guard(authenticate)


AnyRole = Depends(require("admin", "agent", "service"))
AdminOnly = Depends(require("admin"))
AdminOrService = Depends(require("admin", "service"))
