"""A request's parts read as FastAPI reads declared parameters, for the hottest routes.

``POST /v1/tickets`` and ``POST /v1/tickets/{id}/actions`` or ``POST /v1/tickets/actions``
(every new ticket, every rule's write-back) take the bare ``Request``: FastAPI's
per-request work around declared parameters and dependencies costs about as much CPU as
these handlers themselves. The handlers read the same parts through ``RequestParts``, with
the same validation, and are refused with the same ``RequestValidationError`` (all errors
at once, path and headers before the body), so the app's error handlers answer as for any
route; ``documented`` gives the route's OpenAPI entry the same models and headers.
"""

from __future__ import annotations

import email.message
import functools
import json
import uuid
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

Model = TypeVar("Model", bound=BaseModel)
_UUID = TypeAdapter(uuid.UUID)


def _json_invalid(position: int, reason: str, body: Any) -> RequestValidationError:
    """The error FastAPI raises for a body that is not JSON, at ``position``."""
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", position),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": reason},
            }
        ],
        body=body,
    )


class RequestParts:
    """Reads a request's path parameters and headers, then its body, which it validates
    last: that raises every error found."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self._errors: list[dict[str, Any]] = []

    def path_uuid(self, name: str) -> uuid.UUID:
        value = self._uuid(self.request.path_params[name], ("path", name))
        # Not a UUID: a stand-in, never used, as ``body`` raises the error.
        return uuid.UUID(int=0) if value is None else value

    def header(self, name: str) -> str | None:
        value: str | None = self.request.headers.get(name)
        return value

    def header_uuid(self, name: str) -> uuid.UUID | None:
        value = self.request.headers.get(name)
        return None if value is None else self._uuid(value, ("header", name))

    async def body(self, model: type[Model]) -> Model:
        """The JSON body validated as ``model`` (what FastAPI does for a body parameter):
        raises the errors of the body and of every part read before."""
        content = await self.request.body()
        is_json = _is_json(self.request.headers.get("content-type"))
        if content and is_json and not self._errors:
            # Parsed and validated in one go when it is valid; when it is not, the errors
            # come from the same steps as FastAPI's, below.
            try:
                return model.model_validate_json(content)
            except ValidationError:
                pass
        value: Any = None
        if content:
            value = content
            if is_json:
                try:
                    value = json.loads(content)
                except json.JSONDecodeError as exc:
                    raise _json_invalid(exc.pos, exc.msg, exc.doc) from exc
                except UnicodeDecodeError as exc:
                    # Bytes that are no Unicode text at all: not JSON either.
                    raise _json_invalid(exc.start, exc.reason, content) from exc
        else:
            self._errors.append(
                {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
            )
        parsed = None
        if content:
            try:
                # As FastAPI validates a body: objects' attributes would do too.
                parsed = model.model_validate(value, from_attributes=True)
            except ValidationError as exc:
                self._errors += _located(exc, ("body",))
        if self._errors or parsed is None:
            raise RequestValidationError(self._errors, body=value)
        return parsed

    def _uuid(self, value: str, where: tuple[str, ...]) -> uuid.UUID | None:
        try:
            return _UUID.validate_python(value)
        except ValidationError as exc:
            self._errors += _located(exc, where)
            return None


def _located(exc: ValidationError, where: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [{**e, "loc": (*where, *e["loc"])} for e in exc.errors(include_url=False)]


# Parsing a content type costs more than a lookup, and clients send the same few: cached.
@functools.lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    """As FastAPI decides whether a body is JSON (strict: no content type is not JSON)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def documented(
    body: type[BaseModel],
    *,
    headers: dict[str, tuple[type[Any], str]],
    path: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI entry's request body (``body``'s schema), path parameters (name: what)
    and headers (name: (type, what)), as FastAPI documents declared parameters."""
    parameters = [
        {"name": name, "in": "path", "required": True, "description": what}
        | {"schema": _inline(_UUID.json_schema())}
        for name, what in (path or {}).items()
    ]
    parameters += [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": what,
            "schema": _inline(TypeAdapter[Any](kind).json_schema()),
        }
        for name, (kind, what) in headers.items()
    ]
    return {
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(body.model_json_schema())}},
        },
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` written in where they are referenced: the document's
    components do not hold them."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return resolve(defs[ref.removeprefix("#/$defs/")])
        resolved = {k: resolve(v) for k, v in node.items()}
        if "discriminator" in resolved:
            # Its mapping names definitions by reference: the inlined variants carry the
            # discriminating property themselves.
            resolved["discriminator"] = {"propertyName": resolved["discriminator"]["propertyName"]}
        return resolved

    resolved: dict[str, Any] = resolve(schema)
    return resolved
