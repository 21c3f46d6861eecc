"""A fast lane for the commonest request of all: a new ticket from a customer known by e-mail.

``POST /v1/tickets`` is the hottest endpoint, and FastAPI's per-request work around the
handler (resolving half a dozen dependencies, parsing headers into parameters, validating
the body in two steps) costs more CPU than the handler itself. This ASGI middleware sits in
front of the FastAPI route and serves the happy path of the inbound case directly:

- a cached API key (any role), no ``Idempotency-Key``, a JSON body that validates as
  ``TicketCreate`` and is eligible for ``inbound.create_inbound``;
- the same validation model, the same creation code, the same response.

Anything else — a body that does not validate, an unknown or expired key, an idempotent
request, a ticket with a department, tags or custom fields — is handed, body and all, to
the FastAPI route, which stays the one reference for every answer, errors included. The
lane can be switched off with ``TICKET_API_FAST_LANE=false``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from prometheus_client import Counter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from ..auth import hash_key
from ..origin import origin_of
from . import inbound
from .schemas import TicketCreate

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_JSON_HEADERS = [(b"content-type", b"application/json")]
FAST_LANE = Counter(
    "ticket_api_fast_lane_requests",
    "POST /v1/tickets requests the fast lane served itself or passed to the FastAPI route",
    ["outcome"],
)
_SERVED = FAST_LANE.labels("served")
_PASSED = FAST_LANE.labels("passed")


class InboundFastLane:
    """ASGI middleware: serves eligible ``POST /v1/tickets`` itself, passes on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != "/v1/tickets"
            or not scope["app"].state.settings.fast_lane
        ):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        bearer = headers.get(b"authorization", b"")
        if (
            b"idempotency-key" in headers
            or bearer[:7].lower() != b"bearer "
            or not headers.get(b"content-type", b"").startswith(b"application/json")
        ):
            _PASSED.inc()
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive)
        if read is None:
            return  # the client went away before sending its request
        body, more = read
        replay = _replaying(body, more, receive)
        app = scope["app"]
        state = app.state
        principal = state.key_cache.get(hash_key(bearer[7:].decode("latin-1").strip()))
        valid_correlation, correlation_id = _correlation_id(headers)
        if principal is None or not valid_correlation or more:
            _PASSED.inc()
            await self.app(scope, replay, send)
            return
        try:
            data = TicketCreate.model_validate_json(body)
        except ValidationError:
            _PASSED.inc()
            await self.app(scope, replay, send)
            return
        if not inbound.eligible(data, None):
            _PASSED.inc()
            await self.app(scope, replay, send)
            return
        try:
            snapshot = await inbound.create_inbound(
                state.pg,
                None,
                data,
                origin_of(principal, correlation_id),
                state.clock.now(),
                state.topics,
            )
        except Exception as exc:
            # Answer as the FastAPI route would: with the app's handler for this error.
            handler = _handler_for(app, exc)
            if handler is None:
                raise
            response = await handler(Request(scope, replay), exc)
            await response(scope, replay, send)
            return
        _SERVED.inc()
        payload = orjson.dumps(snapshot)
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _handler_for(app: Any, exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls is not Exception and cls in app.exception_handlers:
            return app.exception_handlers[cls]
    return None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # Header names arrive lower-cased (ASGI); a repeated header keeps its first value,
    # and a request with unusual repeats is the FastAPI route's to judge anyway.
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name, value)
    return found


def _correlation_id(headers: dict[bytes, bytes]) -> tuple[bool, uuid.UUID | None]:
    """(valid, the X-Correlation-Id header's UUID or None when absent)."""
    value = headers.get(b"x-correlation-id")
    if value is None:
        return True, None
    try:
        return True, uuid.UUID(value.decode("latin-1"))
    except ValueError:
        return False, None


# Read at most this much before deciding: a larger body is the general route's to read.
_MAX_FAST_BODY = 256 * 1024


async def _read_body(receive: Receive) -> tuple[bytes, bool] | None:
    """The request body and whether more of it is still unread (a large one); None when
    the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > _MAX_FAST_BODY:
            return b"".join(chunks), True


def _replaying(body: bytes, more: bool, receive: Receive) -> Receive:
    """A receive that first gives back what was read, then the rest from the client."""
    given = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
