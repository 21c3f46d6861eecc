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
from typing import cast

from fastapi import Depends, Request
from helpdesk_events.vocabulary import KeyRole
from helpdesk_service.auth import bearer_key, role_guard
from helpdesk_service.errors import Unauthorized
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Agent, AgentDepartment, ApiKey

Role = KeyRole


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


class DatabaseKeyAuth:
    """ticket-api's own keys, checked against its database and kept in ``cache``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache: KeyCache) -> None:
        self._sessions = sessions
        self._cache = cache

    async def principal_for(self, key: str) -> Principal:
        digest = hash_key(key)
        principal = self._cache.get(digest)
        if principal is None:
            principal = await self._load(digest)
            self._cache.put(digest, principal)
        return principal

    async def _load(self, digest: str) -> Principal:
        async with self._sessions() as session:
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
        return Principal(
            key_id=row.id,
            name=row.name,
            # The table's check constraint keeps role to the three roles.
            role=cast(Role, row.role),
            agent_id=row.agent_id,
            agent_name=agent_name,
            department_ids=departments,
        )


async def authenticate(request: Request) -> Principal:
    auth: DatabaseKeyAuth = request.app.state.auth
    return await auth.principal_for(bearer_key(request))


require = role_guard(authenticate)


AnyRole = Depends(require("admin", "agent", "service"))
AdminOnly = Depends(require("admin"))
AdminOrService = Depends(require("admin", "service"))
