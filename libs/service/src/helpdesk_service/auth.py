"""API-key authentication for services other than ticket-api.

ticket-api owns the keys (stored hashed). Other services ask its ``GET /v1/whoami`` with the
caller's key and cache the answer for ``ttl`` seconds, so a revoked key stops working within
that time. The bootstrap admin key from the environment is recognised without a call, so an
admin can configure a service while ticket-api is still starting.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import httpx
from fastapi import Depends, Request

from .errors import ApiError, Forbidden, Unauthorized

Role = Literal["admin", "agent", "service"]


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role
    agent_id: uuid.UUID | None = None
    department_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)


class AuthUnavailable(ApiError):
    status_code = 503
    code = "auth_unavailable"


class RemoteKeyAuth:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        bootstrap_keys: dict[str, Role] | None = None,
        ttl: float = 30.0,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._bootstrap = {
            _digest(key): Principal(key_id=f"bootstrap-{role}", name=f"bootstrap {role}", role=role)
            for key, role in (bootstrap_keys or {}).items()
            if key
        }

    async def principal_for(self, key: str) -> Principal:
        digest = _digest(key)
        if digest in self._bootstrap:
            return self._bootstrap[digest]
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            if cached[1] is None:
                raise Unauthorized("unknown or revoked API key")
            return cached[1]
        try:
            response = await self._client.get(
                "/v1/whoami", headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.HTTPError as exc:
            raise AuthUnavailable(
                f"cannot verify the API key: ticket-api unreachable ({exc})"
            ) from exc
        if response.status_code == 401:
            self._remember(digest, None)
            raise Unauthorized("unknown or revoked API key")
        if response.status_code != 200:
            raise AuthUnavailable(
                f"cannot verify the API key: ticket-api answered {response.status_code}"
            )
        body = response.json()
        principal = Principal(
            key_id=str(body["key_id"]),
            name=str(body["name"]),
            role=body["role"],
            agent_id=uuid.UUID(body["agent_id"]) if body.get("agent_id") else None,
            department_ids=frozenset(uuid.UUID(d) for d in body.get("department_ids", [])),
        )
        self._remember(digest, principal)
        return principal

    def _remember(self, digest: str, principal: Principal | None) -> None:
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (time.monotonic() + self._ttl, principal)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    auth: RemoteKeyAuth = request.app.state.auth
    return await auth.principal_for(token.strip())


class HasRole(Protocol):
    @property
    def role(self) -> str: ...


P = TypeVar("P", bound=HasRole)


def role_guard(
    authenticate: Callable[[Request], Awaitable[P]],
) -> Callable[..., Callable[..., Awaitable[P]]]:
    """Build ``require(*roles)``: a dependency that authenticates with ``authenticate`` and
    refuses (403) keys of other roles. ticket-api checks keys itself, other services ask it."""

    def require(*roles: Role) -> Callable[..., Awaitable[P]]:
        async def check(principal: P = Depends(authenticate)) -> P:
            if principal.role not in roles:
                raise Forbidden(
                    f"this endpoint needs the role {' or '.join(roles)}; "
                    f"your key has {principal.role}"
                )
            return principal

        return check

    return require


require = role_guard(authenticate)
AnyRole = Depends(require("admin", "agent", "service"))
AdminOnly = Depends(require("admin"))
AdminOrService = Depends(require("admin", "service"))
