"""Errors a client can cause, and how each becomes ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .responses import JsonResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client caused, answered with ``status_code`` and ``code``. A subclass
    gives its own in its bases: ``class Gone(ApiError, status_code=410, code="gone")``."""

    status_code = 400
    code = "bad_request"

    def __init_subclass__(
        cls, *, status_code: int | None = None, code: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class NotFound(ApiError, status_code=404, code="not_found"): ...


class Conflict(ApiError, status_code=409, code="conflict"): ...


class Unprocessable(ApiError, status_code=422, code="invalid"): ...


class Unauthorized(ApiError, status_code=401, code="unauthorized"): ...


class Forbidden(ApiError, status_code=403, code="forbidden"): ...


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def api_error_body(error: ApiError) -> dict[str, Any]:
    """The body answering ``error`` (with its ``status_code``)."""
    return error_body(error.code, error.message, error.details)


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    # Drop the location "body", not fields that happen to be named body (a message's body).
    if parts[:1] == ["body"]:
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def field_errors(errors: Sequence[Any], *, at: tuple[Any, ...] = ()) -> Unprocessable:
    """A 422 naming each field pydantic refused (``errors()`` of a ValidationError), found
    under ``at`` in the request: the same shape as a request body that failed validation."""
    details = [
        {
            "field": _pointer((*at, *e.get("loc", ()))),
            "message": e.get("msg"),
            "type": e.get("type"),
        }
        for e in errors
    ]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return Unprocessable(message, details=details)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JsonResponse:
        return JsonResponse(api_error_body(exc), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            first = next(e for e in errors if e.get("type") == "json_invalid")
            return JsonResponse(
                error_body(
                    "invalid_json",
                    "the request body is not valid JSON",
                    {"position": first.get("loc", [None, None])[-1], "reason": first.get("ctx")},
                ),
                400,
            )
        error = field_errors(errors)
        return JsonResponse(error_body(error.code, error.message, error.details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JsonResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        headers = exc.headers
        if exc.status_code == 405:
            # HTTP requires Allow on a 405. Starlette's names the methods of the first route
            # with this path only; a path served by several routes takes all of theirs.
            headers = {**(headers or {}), "Allow": ", ".join(_methods_for(app, request))}
        return JsonResponse(error_body(code, str(exc.detail)), exc.status_code, headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JsonResponse:
        # A race that validation could not see (e.g. a department deleted concurrently).
        log.info("integrity error: %s", exc.orig)
        return JsonResponse(
            error_body("conflict", "the change conflicts with the current data; retry", None), 409
        )

    @app.exception_handler(DBAPIError)
    async def _data(_: Request, exc: DBAPIError) -> JsonResponse:
        # asyncpg's data exceptions (SQLSTATE class 22: a NUL character in a text, a number out
        # of range…) reach SQLAlchemy as a plain DBAPIError, not as DataError: either way the
        # client sent a value the database refuses. Anything else is our fault: a 500.
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if not isinstance(exc, DataError) and not str(sqlstate or "").startswith("22"):
            raise exc
        log.info("data error: %s", exc.orig)
        return JsonResponse(error_body("invalid", "a value is out of range or malformed"), 422)

    # The same two cases from statements run on plain asyncpg connections.
    @app.exception_handler(asyncpg.DataError)
    @app.exception_handler(asyncpg.IntegrityConstraintViolationError)
    async def _pg_refused(_: Request, exc: asyncpg.PostgresError) -> JsonResponse:
        log.info("database refused: %s", exc)
        error = database_refusal(exc)
        assert error is not None, "registered for the errors database_refusal maps"
        return JsonResponse(api_error_body(error), error.status_code)


def database_refusal(exc: BaseException) -> ApiError | None:
    """The 4xx a statement on a plain asyncpg connection stands for when the database refused
    the client's values (out of range or malformed: 422; a reference gone meanwhile: 409),
    or None: anything else is our fault."""
    if isinstance(exc, asyncpg.DataError):
        return Unprocessable("a value is out of range or malformed")
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return Conflict("the change conflicts with the current data; retry")
    return None


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _methods_for(app: FastAPI, request: Request) -> list[str]:
    """The methods some route takes at the request's path (a 405 only: it walks the routes)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    ]


class BodySizeLimit:
    """Refuses request bodies over ``limit`` bytes with 413, with or without Content-Length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise StarletteHTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    import orjson

    body = orjson.dumps(error_body("too_large", f"request body over {limit} bytes"))
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
