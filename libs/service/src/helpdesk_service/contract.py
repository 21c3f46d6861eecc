"""The OpenAPI document every service publishes: each operation lists every status it can
answer, with the suite's error body (``errors.error_body``) for each error.

FastAPI documents the success and a 422 in its own validation format; what the kit itself
answers (a 400 for a body that is not JSON, 401/403 from the key check, 404 for an id that
names nothing, 409 for a write that conflicts, 413 over the body limit, 422 in the suite's
format) is added here, from what each route declares: a body, path parameters, a guard."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "machine-readable: invalid, invalid_json, not_found, …",
                },
                "message": {"type": "string", "description": "what is wrong and where"},
                "details": {
                    "description": "for a 422, one entry per refused field: "
                    "{field, message, type}; otherwise null or a small object",
                },
            },
        }
    },
}

_DESCRIPTIONS = {
    "400": "The body is not valid JSON (code invalid_json).",
    "401": "No API key, or one that is not valid (code unauthorized).",
    "403": "The key's role may not do this (code forbidden).",
    "404": "Nothing has the id in the path (code not_found).",
    "405": "The path does not take this method; the Allow header lists those it takes.",
    "409": "The change conflicts with the current data (code conflict or a more exact one).",
    "413": "The body is over the service's limit (code too_large).",
    "422": "A value is refused; details name each field (code invalid or a more exact one).",
}
_WRITES = {"post", "put", "patch", "delete"}
_METHODS = {"get", "head", *_WRITES}


def _error_statuses(operation: dict[str, Any], method: str, guarded: bool) -> list[str]:
    statuses = []
    if "requestBody" in operation:
        statuses += ["400", "413"]
    if guarded:
        statuses += ["401", "403"]
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.append("404")
    if method in _WRITES:
        statuses.append("409")
    statuses.append("422")
    return statuses


def install_contract(app: FastAPI, public_paths: set[str]) -> None:
    """Replace ``app.openapi`` with the document described above, built once. Every route
    checks the caller's key but those of ``public_paths`` (health, readiness, metrics)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        # FastAPI's validation error format is not what the services answer.
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        error_reference = {"$ref": "#/components/schemas/Error"}
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                for status in _error_statuses(operation, method, path not in public_paths):
                    responses[status] = {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": error_reference}},
                    }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
