"""A fast lane for the two commonest requests: a new ticket from a customer known by e-mail,
and a service's write-back of simple actions.

``POST /v1/tickets`` is the hottest endpoint and ``POST /v1/tickets/{id}/actions`` the next
(every rule that changes a ticket sends one), and FastAPI's per-request work around their
handlers (resolving half a dozen dependencies, parsing headers into parameters, validating
the body in two steps) costs about as much CPU as the handlers themselves. This ASGI
middleware sits in front of the FastAPI routes and serves their happy paths directly:

- new tickets: a cached API key (any role), no ``Idempotency-Key``, a JSON body that
  validates as ``TicketCreate`` and is eligible for ``inbound.create_inbound``;
- write-backs: a cached admin or service key, an ``Idempotency-Key``, a JSON body that
  validates as ``ActionBatch`` and is eligible for ``writeback.apply_batch``;
- the same validation models, the same code behind them, the same responses.

Anything else — a body that does not validate, an unknown or expired key, another role, a
ticket with a department, tags or custom fields, a batch with a message — is handed, body
and all, to the FastAPI route, which stays the one reference for every answer, errors
included. The lane can be switched off with ``TICKET_API_FAST_LANE=false``.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from prometheus_client import Counter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .. import idempotency
from ..auth import Principal, hash_key
from ..origin import origin_of
from . import inbound, writeback
from .schemas import ActionBatch, TicketCreate

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_JSON_HEADERS = [(b"content-type", b"application/json")]
FAST_LANE = Counter(
    "ticket_api_fast_lane_requests",
    "New-ticket and write-back requests the fast lane served itself or passed to the route",
    ["route", "outcome"],
)
_CREATE = (FAST_LANE.labels("create", "served"), FAST_LANE.labels("create", "passed"))
_ACTIONS = (FAST_LANE.labels("actions", "served"), FAST_LANE.labels("actions", "passed"))
_ACTIONS_PATH = re.compile(
    r"/v1/tickets/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/actions"
)
_WRITE_BACK_ROLES = frozenset({"admin", "service"})


class InboundFastLane:
    """ASGI middleware: serves eligible new tickets and write-backs itself, passes on the
    rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["app"].state.settings.fast_lane
        ):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/v1/tickets":
            await self._lane(scope, receive, send, _CREATE, _create)
            return
        match = _ACTIONS_PATH.fullmatch(path)
        if match is None:
            await self.app(scope, receive, send)
            return
        await self._lane(
            scope, receive, send, _ACTIONS, functools.partial(_write_back, uuid.UUID(match[1]))
        )

    async def _lane(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        counters: tuple[Any, Any],
        serve: Serve,
    ) -> None:
        """What both lanes share: the key from the cache, the JSON body read whole, errors
        answered by the app's handlers; ``serve`` returns None to pass the request on."""
        served, passed = counters
        headers = _headers(scope)
        bearer = headers.get(b"authorization", b"")
        if bearer[:7].lower() != b"bearer " or not headers.get(b"content-type", b"").startswith(
            b"application/json"
        ):
            passed.inc()
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive)
        if read is None:
            return  # the client went away before sending its request
        body, more = read
        replay = _replaying(body, more, receive)
        app = scope["app"]
        principal = app.state.key_cache.get(hash_key(bearer[7:].decode("latin-1").strip()))
        if principal is None or more:
            passed.inc()
            await self.app(scope, replay, send)
            return
        try:
            answer = await serve(scope, headers, principal, body)
        except Exception as exc:
            # Answer as the FastAPI route would: with the app's handler for this error.
            handler = _handler_for(app, exc)
            if handler is None:
                raise
            served.inc()
            response = await handler(Request(scope, replay), exc)
            await response(scope, replay, send)
            return
        if answer is None:
            passed.inc()
            await self.app(scope, replay, send)
            return
        served.inc()
        status, content, extra_headers = answer
        payload = orjson.dumps(content)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *_JSON_HEADERS,
                    (b"content-length", str(len(payload)).encode()),
                    *extra_headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


Answer = tuple[int, Any, list[tuple[bytes, bytes]]]
# What a lane does with an authenticated request: (status, body, extra headers), or None to
# pass it to the route.
Serve = Callable[[Scope, dict[bytes, bytes], Principal, bytes], Awaitable[Answer | None]]


async def _create(
    scope: Scope, headers: dict[bytes, bytes], principal: Principal, body: bytes
) -> Answer | None:
    if b"idempotency-key" in headers:
        return None
    valid_correlation, correlation_id = _correlation_id(headers)
    if not valid_correlation:
        return None
    try:
        data = TicketCreate.model_validate_json(body)
    except ValidationError:
        return None
    if not inbound.eligible(data, None):
        return None
    state = scope["app"].state
    snapshot = await inbound.create_inbound(
        state.pg, None, data, origin_of(principal, correlation_id), state.clock.now(), state.topics
    )
    return 201, snapshot, []


async def _write_back(
    ticket_id: uuid.UUID,
    scope: Scope,
    headers: dict[bytes, bytes],
    principal: Principal,
    body: bytes,
) -> Answer | None:
    key = headers.get(b"idempotency-key")
    if key is None or principal.role not in _WRITE_BACK_ROLES:
        return None
    try:
        batch = ActionBatch.model_validate_json(body)
    except ValidationError:
        return None
    state = scope["app"].state
    status, content, replayed = await writeback.apply_batch(
        state.pg,
        ticket_id,
        batch,
        principal_id=principal.principal_id,
        key=key.decode("latin-1"),
        digest=idempotency.request_hash(scope["path"], writeback.identity(ticket_id, batch)),
        now=state.clock.now(),
        topics=state.topics,
    )
    return status, content, [(b"idempotent-replayed", b"true")] if replayed else []


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
