"""The fields a condition can test, their types, and the operators each type accepts.

The fields' value lists are the ticket vocabulary of helpdesk_events, which ticket-api uses
too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from helpdesk_events.vocabulary import (
    AVAILABILITY,
    CHANNELS,
    MESSAGE_AUTHORS,
    PRIORITIES,
    STATUSES,
)

FieldType = Literal[
    "text", "enum", "uuid", "number", "date", "bool", "tags", "address_list", "uuid_list"
]
CustomFieldType = Literal["text", "number", "boolean", "date", "select"]
TimeUnit = Literal["minutes", "hours", "days"]

CHANGE_OPS = ("changed", "changed_to", "changed_from")
RELATIVE_TIME_OPS = ("older_than", "within_last")

# Operators per type, in the order error messages list them.
OPERATORS: dict[FieldType, tuple[str, ...]] = {
    "text": (
        "is",
        "is_not",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "matches_regex",
        "is_set",
        "is_empty",
    ),
    "enum": ("is", "is_not", "in", "not_in", "is_set", "is_empty"),
    "uuid": ("is", "is_not", "in", "not_in", "is_set", "is_empty"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "is_set", "is_empty"),
    "date": ("before", "after", "older_than", "within_last", "is_set", "is_empty"),
    "bool": ("is_true", "is_false"),
    "tags": ("has_tag", "lacks_tag", "has_any", "has_all", "is_set", "is_empty"),
    "address_list": ("contains", "not_contains", "is_set", "is_empty"),
    "uuid_list": ("is", "is_not", "in", "not_in", "is_set", "is_empty"),
}

# Every operator is a positive test or the exact negation of one: a negative operator holds
# exactly when its positive one does not (a missing value included), in both compilers.
NEGATIONS: dict[str, str] = {
    "is_not": "is",
    "not_contains": "contains",
    "not_in": "in",
    "ne": "eq",
    "is_empty": "is_set",
    "is_false": "is_true",
    "lacks_tag": "has_tag",
}

CUSTOM_FIELD_PREFIX = "custom_fields."
CUSTOM_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class CustomField:
    """A custom field definition, as ticket-api stores it (``GET /v1/custom-fields``)."""

    key: str
    type: CustomFieldType
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    """What a condition field is: its type and how it may be tested."""

    name: str
    type: FieldType
    # The allowed values of an enum; None for enums of free values (SLA level names).
    values: tuple[str, ...] | None = None
    # The key of this field in a ticket event's ``changes``; None when it never changes.
    change_key: str | None = None
    # For custom fields: the definition's key and type.
    custom: CustomField | None = None
    # Booleans that may be absent (custom booleans) also take is_set / is_empty.
    nullable_bool: bool = False

    @property
    def type_label(self) -> str:
        if self.custom is not None:
            return f"custom {self.custom.type}"
        return self.type

    @property
    def operators(self) -> tuple[str, ...]:
        ops = OPERATORS[self.type]
        if self.nullable_bool:
            ops = (*ops, "is_set", "is_empty")
        if self.change_key is not None:
            # What a date changed to is rarely useful; "changed" still is (e.g. a reply came).
            ops = (*ops, "changed") if self.type == "date" else (*ops, *CHANGE_OPS)
        return ops


def _field(name: str, type_: FieldType, **kwargs: object) -> tuple[str, FieldSpec]:
    return name, FieldSpec(name, type_, **kwargs)  # type: ignore[arg-type]


FIELDS: dict[str, FieldSpec] = dict(
    [
        _field("subject", "text", change_key="subject"),
        # The ticket's last (non-internal) message.
        _field("from", "text"),
        _field("to", "address_list"),
        _field("cc", "address_list"),
        _field("bcc", "address_list"),
        _field("body", "text"),
        _field("status", "enum", values=STATUSES, change_key="status"),
        _field("priority", "enum", values=PRIORITIES, change_key="priority"),
        _field("channel", "enum", values=CHANNELS, change_key="channel"),
        _field("sla_level", "enum", change_key="sla_level"),
        # The SLA state the sla-tracker writes back to the ticket.
        _field("sla_due_at", "date", change_key="sla_due_at"),
        _field("sla_late", "bool", change_key="sla_late"),
        _field("referrer_url", "text", change_key="referrer_url"),
        _field("created_at", "date"),
        _field("updated_at", "date"),
        _field("status_changed_at", "date"),
        _field("first_customer_message_at", "date", change_key="first_customer_message_at"),
        _field("last_customer_message_at", "date", change_key="last_customer_message_at"),
        _field("first_agent_reply_at", "date", change_key="first_agent_reply_at"),
        _field("last_agent_reply_at", "date", change_key="last_agent_reply_at"),
        _field("last_message_at", "date", change_key="last_message_at"),
        _field("deleted", "bool", change_key="deleted_at"),
        _field(
            "last_message_author",
            "enum",
            values=MESSAGE_AUTHORS,
            change_key="last_message_author",
        ),
        _field("agent_status", "enum", values=AVAILABILITY),
        _field("department_id", "uuid", change_key="department_id"),
        _field("agent_id", "uuid", change_key="agent_id"),
        _field("customer_group", "uuid_list"),
        _field("created_from_invitation", "bool"),
        _field("tags", "tags", change_key="tags"),
    ]
)

_CUSTOM_TYPES: dict[CustomFieldType, FieldType] = {
    "text": "text",
    "number": "number",
    "boolean": "bool",
    "date": "date",
    "select": "enum",
}


def custom_field_spec(definition: CustomField) -> FieldSpec:
    return FieldSpec(
        name=CUSTOM_FIELD_PREFIX + definition.key,
        type=_CUSTOM_TYPES[definition.type],
        values=definition.options if definition.type == "select" else None,
        change_key="custom_fields",
        custom=definition,
        nullable_bool=definition.type == "boolean",
    )


def custom_field_index(
    custom_fields: Iterable[CustomField] | Mapping[str, CustomField] | None,
) -> dict[str, CustomField] | None:
    """Definitions by key; None stays None (definitions unknown)."""
    if custom_fields is None:
        return None
    if isinstance(custom_fields, Mapping):
        return dict(custom_fields)
    return {d.key: d for d in custom_fields}


def custom_field_operators() -> tuple[str, ...]:
    """Every operator some custom field type accepts (to check conditions leniently)."""
    seen: dict[str, None] = {}
    for definition_type in _CUSTOM_TYPES:
        spec = custom_field_spec(CustomField("x", definition_type, ("x",)))
        seen.update(dict.fromkeys(spec.operators))
    return tuple(seen)
