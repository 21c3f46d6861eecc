"""API-key authentication: ``Authorization: Bearer <key>``, checked by the app's
authenticator (``app.state.auth``, a ``KeyAuthenticator``), and role guards.

ticket-api owns the keys (stored hashed) and checks them against its database. Other
services use ``RemoteKeyAuth``: they ask ticket-api's ``GET /v1/whoami`` with the caller's
key and cache the answer for ``ttl`` seconds, so a revoked key stops working within that
time. The bootstrap admin key from the environment is recognised without a call, so an
admin can configure a service while ticket-api is still starting.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from fastapi import Depends, Request
from helpdesk_events.vocabulary import KeyRole
from helpdesk_ticket_client import TicketApiClient, TicketApiError

from .errors import ApiError, Forbidden, Unauthorized

Role = KeyRole


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role
    agent_id: uuid.UUID | None = None
    department_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)


class AuthUnavailable(ApiError, status_code=503, code="auth_unavailable"):
    """ticket-api, which knows the keys, could not be asked: try again later."""


class HasRole(Protocol):
    @property
    def role(self) -> str: ...


P = TypeVar("P", bound=HasRole)
P_co = TypeVar("P_co", bound=HasRole, covariant=True)


class KeyAuthenticator(Protocol[P_co]):
    async def principal_for(self, key: str) -> P_co:
        """Who ``key`` belongs to; raises Unauthorized for an unknown or revoked key."""
        ...


class RemoteKeyAuth:
    """Keys checked by ticket-api (``whoami``), through the service's ticket-api client."""

    def __init__(
        self,
        client: TicketApiClient,
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
            known = await self._client.whoami(key)
        except TicketApiError as exc:
            raise AuthUnavailable(f"cannot verify the API key: {exc}") from exc
        if known is None:
            self._remember(digest, None)
            raise Unauthorized("unknown or revoked API key")
        principal = Principal(
            key_id=str(known.key_id),
            name=known.name,
            role=known.role,
            agent_id=known.agent_id,
            department_ids=frozenset(known.department_ids),
        )
        self._remember(digest, principal)
        return principal

    def _remember(self, digest: str, principal: Principal | None) -> None:
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (time.monotonic() + self._ttl, principal)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_key(request: Request) -> str:
    """The key of ``Authorization: Bearer <key>``; Unauthorized without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return token.strip()


async def authenticate(request: Request) -> Principal:
    """The caller, as a service that checks keys with RemoteKeyAuth knows them."""
    auth: RemoteKeyAuth = request.app.state.auth
    return await auth.principal_for(bearer_key(request))


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
