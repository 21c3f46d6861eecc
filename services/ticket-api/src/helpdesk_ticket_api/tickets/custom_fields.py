"""Custom field values checked against their definitions (``POST /v1/custom-fields``)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from helpdesk_service.errors import Unprocessable

from ..models import CustomFieldDefinition
from .statements import EditorStore


async def validate_custom_fields(store: EditorStore, values: dict[str, Any]) -> dict[str, Any]:
    """Check values against their definitions; None removes a value."""
    if not values:
        return {}
    defs = await store.custom_fields(list(values))
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = defs.get(key)
        if definition is None:
            raise Unprocessable(
                f"custom_fields.{key}: no custom field with this key; define it first "
                "with POST /v1/custom-fields",
                code="unknown_reference",
            )
        cleaned[key] = None if value is None else _check_field_value(definition, value)
    return cleaned


_MAX_SAFE_INT = 2**53 - 1


def _check_field_value(definition: CustomFieldDefinition, value: Any) -> Any:
    where = f"custom_fields.{definition.key}"
    kind = definition.type
    if kind == "text" and isinstance(value, str) and len(value) <= 10_000:
        return value
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        # Finite, and an integer JSON readers everywhere (and our own encoder) can hold.
        if math.isfinite(value) and not (isinstance(value, int) and abs(value) > _MAX_SAFE_INT):
            return value
        raise Unprocessable(f"{where}: expected a finite number within ±{_MAX_SAFE_INT}")
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    if kind == "select" and isinstance(value, str):
        if value in definition.options:
            return value
        raise Unprocessable(f"{where}: {value!r} is not one of {definition.options}")
    expected = {
        "text": "a string",
        "number": "a number",
        "boolean": "true or false",
        "date": "a date like 2026-01-31",
        "select": "one of the options",
    }[kind]
    raise Unprocessable(f"{where}: expected {expected}, got {value!r}")
