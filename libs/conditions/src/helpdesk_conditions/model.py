"""The condition model (pydantic) and its validation.

A ``ConditionSet`` is ``{"any": [{"all": [condition, ...]}, ...]}``: a ticket matches when
every condition of at least one group holds. ``{"every_ticket": true}`` says "every ticket"
explicitly (rules require it: they refuse an empty ``any``); a search may still pass
``{"any": []}`` for "no filter".

Validation reports each problem with a pointer to it, e.g.
``conditions.any[1].all[0].op: "contians" is not an operator for field subject (text);
use one of: is, is_not, ...``. The same checks run inside pydantic (so a FastAPI body
with a ``ConditionSet`` gives a 422 with these pointers) and in ``validate_conditions``.

Custom fields need their definitions: pass them in the validation context
(``context={"custom_fields": [...]}``) or to ``validate_conditions`` / the compilers.
Without definitions (a FastAPI body), conditions on custom fields are checked only as far
as no definition is needed; the compilers always check them fully.
"""

from __future__ import annotations

import difflib
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .fields import (
    CHANGE_OPS,
    CUSTOM_FIELD_KEY,
    CUSTOM_FIELD_PREFIX,
    FIELDS,
    NEGATIONS,
    RELATIVE_TIME_OPS,
    CustomField,
    FieldSpec,
    TimeUnit,
    custom_field_index,
    custom_field_operators,
    custom_field_spec,
)
from .regex import RegexSubsetError, SafeRegex, parse_regex
from .text import fold

MAX_GROUPS = 50
MAX_CONDITIONS_PER_GROUP = 50
MAX_LIST_VALUES = 500
MAX_TEXT_LENGTH = 1_000
MAX_TAG_LENGTH = 50
# Relative times reach back at most this far (and stay far from datetime's limits).
MAX_RELATIVE = timedelta(days=36_600)
UNIT_SECONDS: dict[str, int] = {"minutes": 60, "hours": 3_600, "days": 86_400}
ERROR_TYPE = "invalid_condition"

CustomFields = Iterable[CustomField] | Mapping[str, CustomField]


@dataclass(frozen=True)
class ConditionIssue:
    """One problem in a condition set, with a pointer such as ``conditions.any[0].all[1].op``."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer}: {self.message}"

    def as_detail(self) -> dict[str, str]:
        """The shape of one entry of an API error's ``details``."""
        return {"field": self.pointer, "message": self.message, "type": ERROR_TYPE}


class ConditionError(ValueError):
    """A condition set cannot be used as asked; ``issues`` says where and why."""

    def __init__(self, issues: list[ConditionIssue]) -> None:
        super().__init__("; ".join(str(issue) for issue in issues))
        self.issues = issues


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError(ERROR_TYPE, "{reason}", {"reason": message})


@contextmanager
def _value_errors_invalid() -> Iterator[None]:
    """A ValueError the field checks raise, as the validation error that names the place."""
    try:
        yield
    except ValueError as exc:
        raise _invalid(str(exc)) from None


def _definitions(info: ValidationInfo) -> dict[str, CustomField] | None:
    context = info.context
    if not isinstance(context, Mapping) or "custom_fields" not in context:
        return None
    return custom_field_index(context["custom_fields"]) or {}


def resolve_field(name: str, definitions: Mapping[str, CustomField] | None) -> FieldSpec | None:
    """The spec of a field; None for a custom field whose definition is not known yet.

    Raises ``ValueError`` with a message for the user when the field does not exist."""
    spec = FIELDS.get(name)
    if spec is not None:
        return spec
    if name.startswith(CUSTOM_FIELD_PREFIX):
        key = name[len(CUSTOM_FIELD_PREFIX) :]
        if not CUSTOM_FIELD_KEY.fullmatch(key):
            raise ValueError(
                f"{name!r}: a custom field key is lowercase letters, digits and _, "
                "starting with a letter"
            )
        if definitions is None:
            return None
        definition = definitions.get(key)
        if definition is None:
            known = ", ".join(sorted(definitions)) or "none"
            raise ValueError(f"no custom field with key {key!r}; defined keys: {known}")
        return custom_field_spec(definition)
    suggestion = difflib.get_close_matches(name, list(FIELDS), n=1)
    hint = f' (did you mean "{suggestion[0]}"?)' if suggestion else ""
    raise ValueError(
        f'"{name}" is not a field{hint}; use one of: {", ".join(FIELDS)}, '
        f"or {CUSTOM_FIELD_PREFIX}<key>"
    )


def check_operator(spec: FieldSpec | None, name: str, op: str) -> None:
    """Raises ``ValueError`` when ``op`` does not fit the field."""
    allowed = spec.operators if spec is not None else custom_field_operators()
    if op in allowed:
        return
    if spec is None:
        raise ValueError(
            f'"{op}" is not an operator for custom fields; use one of: {", ".join(allowed)}'
        )
    if op in CHANGE_OPS and spec.change_key is not None:
        raise ValueError(f"{op} is not available for field {name} ({spec.type_label}); use changed")
    if op in CHANGE_OPS:
        raise ValueError(
            f"{op} is not available for field {name}: its changes are not part of ticket "
            f"events; use one of: {', '.join(allowed)}"
        )
    raise ValueError(
        f'"{op}" is not an operator for field {name} ({spec.type_label}); '
        f"use one of: {', '.join(allowed)}"
    )


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: Any, what: str, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected {what} (a non-empty string), got {_describe(value)}")
    if len(value) > max_length:
        raise ValueError(f"{what} is longer than {max_length} characters")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"expected a non-empty list of {what}, got {_describe(value)}")
    if len(value) > MAX_LIST_VALUES:
        raise ValueError(f"at most {MAX_LIST_VALUES} values")
    return list(value)


def _enum_value(spec: FieldSpec, value: Any) -> str:
    if spec.values is None:
        return _string(value, "a value", max_length=200)
    if isinstance(value, str) and value in spec.values:
        return value
    raise ValueError(
        f"expected one of {', '.join(spec.values)} for {spec.name}, got {_describe(value)}"
    )


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValueError(f"expected a UUID, got {_describe(value)}")


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"expected a finite number, got {_describe(value)}")


def _instant(value: Any) -> datetime:
    """A timezone-aware instant; a bare date means its midnight UTC."""
    parsed: date | datetime | None = None
    if isinstance(value, datetime | date):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
        except ValueError:
            parsed = None
    if isinstance(parsed, datetime):
        if parsed.tzinfo is None:
            raise ValueError(
                f"{_describe(value)} has no time zone; write e.g. 2026-01-31T09:00:00Z"
            )
        return parsed.astimezone(UTC)
    if isinstance(parsed, date):
        return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
    raise ValueError(
        "expected a date (2026-01-31) or an instant with a time zone "
        f"(2026-01-31T09:00:00Z), got {_describe(value)}"
    )


def _calendar_date(value: Any) -> str:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError(f"expected a date like 2026-01-31, got {_describe(value)}")


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1_000_000:
        return value
    raise ValueError(
        f"expected a whole number of minutes, hours or days (>= 1), got {_describe(value)}"
    )


def _tag(value: Any) -> str:
    return _string(value, "a tag", max_length=MAX_TAG_LENGTH)


def _equality_value(spec: FieldSpec, value: Any) -> Any:
    """The value ``is`` (or ``eq``) compares with, for changed_to / changed_from."""
    if spec.type == "text":
        return fold(_string(value, "a text"))
    if spec.type == "enum":
        return _enum_value(spec, value)
    if spec.type == "uuid":
        return _uuid(value)
    if spec.type == "number":
        return _number(value)
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, got {_describe(value)}")
    if spec.type == "tags":
        return _tag(value)
    raise ValueError(f"changed_to / changed_from do not apply to {spec.type} fields")


def normalize_value(spec: FieldSpec, op: str, value: Any) -> Any:
    """The compiled form of a condition's value; ``ValueError`` says what is wrong."""
    base = NEGATIONS.get(op, op)
    if op == "changed" or base in ("is_set", "is_true"):
        if value is not None:
            raise ValueError(f"{op} takes no value; remove it")
        return None
    if value is None:
        raise ValueError(f"{op} needs a value")
    if op in ("changed_to", "changed_from"):
        return _equality_value(spec, value)
    kind = spec.type
    if kind == "text":
        if base == "matches_regex":
            pattern = _string(value, "a pattern")
            try:
                return parse_regex(pattern)
            except RegexSubsetError as exc:
                raise ValueError(f"not a supported regular expression: {exc}") from exc
        return fold(_string(value, "a text"))
    if kind == "address_list":
        return fold(_string(value, "an address or part of one"))
    if kind in ("enum", "uuid", "uuid_list"):
        one = (lambda v: _enum_value(spec, v)) if kind == "enum" else _uuid
        if base == "in":
            return frozenset(one(v) for v in _list(value, "values"))
        return one(value)
    if kind == "number":
        return _number(value)
    if kind == "date":
        if base in RELATIVE_TIME_OPS:
            return _count(value)
        if spec.custom is not None:
            return _calendar_date(value)
        return _instant(value)
    if kind == "tags":
        if base in ("has_any", "has_all"):
            return frozenset(_tag(v) for v in _list(value, "tags"))
        return _tag(value)
    raise ValueError(f"{op} takes no value; remove it")  # pragma: no cover - bool ops


def relative_delta(count: int, unit: TimeUnit) -> timedelta:
    return timedelta(seconds=count * UNIT_SECONDS[unit])


def ceil_date(instant: datetime) -> str:
    """The first calendar date (UTC) whose midnight is at or after ``instant``: a custom
    date field's value stands for its midnight UTC, so ``day < ceil_date(t)`` is
    ``midnight(day) < t``."""
    instant = instant.astimezone(UTC)
    day = instant.date()
    if instant.time() != datetime.min.time():
        day += timedelta(days=1)
    return day.isoformat()


def floor_date(instant: datetime) -> str:
    """The calendar date (UTC) of ``instant``: ``day <= floor_date(t)`` is
    ``midnight(day) <= t``."""
    return instant.astimezone(UTC).date().isoformat()


class Condition(BaseModel):
    """One test of one field, e.g. ``{"field": "subject", "op": "contains", "value": "refund"}``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"field": "subject", "op": "contains", "value": "refund"},
                {"field": "status", "op": "in", "value": ["new", "open"]},
                {
                    "field": "last_customer_message_at",
                    "op": "older_than",
                    "value": 48,
                    "unit": "hours",
                },
            ]
        },
    )

    field: str = Field(description="subject, status, tags, custom_fields.<key>, …")
    op: str = Field(description="An operator that fits the field's type")
    value: Any = Field(default=None, validate_default=True)
    unit: TimeUnit | None = Field(
        default=None,
        validate_default=True,
        description="For older_than / within_last: minutes, hours or days",
    )

    @field_validator("field")
    @classmethod
    def _check_field(cls, name: str, info: ValidationInfo) -> str:
        with _value_errors_invalid():
            resolve_field(name, _definitions(info))
        return name

    @field_validator("op")
    @classmethod
    def _check_op(cls, op: str, info: ValidationInfo) -> str:
        name = info.data.get("field")
        if name is None:
            return op
        with _value_errors_invalid():
            check_operator(resolve_field(name, _definitions(info)), name, op)
        return op

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: Any, info: ValidationInfo) -> Any:
        name, op = info.data.get("field"), info.data.get("op")
        if name is None or op is None:
            return value
        spec = resolve_field(name, _definitions(info))
        if spec is None:
            return value
        with _value_errors_invalid():
            normalize_value(spec, op, value)
        return value

    @field_validator("unit")
    @classmethod
    def _check_unit(cls, unit: TimeUnit | None, info: ValidationInfo) -> TimeUnit | None:
        op = info.data.get("op")
        if op is None:
            return unit
        if op not in RELATIVE_TIME_OPS:
            if unit is not None:
                raise _invalid(f"only {' and '.join(RELATIVE_TIME_OPS)} take a unit; remove it")
            return unit
        if unit is None:
            raise _invalid(f"{op} needs a unit: minutes, hours or days")
        count = info.data.get("value")
        if isinstance(count, int) and count * UNIT_SECONDS[unit] > MAX_RELATIVE.total_seconds():
            raise _invalid(f"{count} {unit} reaches back more than {MAX_RELATIVE.days} days")
        return unit


class ConditionGroup(BaseModel):
    """Conditions that must all hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[Condition]

    @field_validator("all")
    @classmethod
    def _check_size(cls, conditions: list[Condition]) -> list[Condition]:
        if not conditions:
            raise _invalid(
                "a group needs at least one condition "
                '(to match every ticket, write {"every_ticket": true})'
            )
        if len(conditions) > MAX_CONDITIONS_PER_GROUP:
            raise _invalid(f"at most {MAX_CONDITIONS_PER_GROUP} conditions in a group")
        return conditions


def awaiting_customer_48_hours() -> list[JsonValue]:
    """The conditions of the time rule a helpdesk starts with, answered tickets whose last
    agent reply is over 48 hours old: the example the APIs document, and the scheduler
    benchmark's rules. A new list each call, so a caller may extend it."""
    return [
        {"field": "status", "op": "is", "value": "answered"},
        {"field": "last_agent_reply_at", "op": "older_than", "value": 48, "unit": "hours"},
    ]


class ConditionSet(BaseModel):
    """Groups of conditions: a ticket matches when all conditions of any group hold.

    An empty ``any`` list matches every ticket; ``{"every_ticket": true}`` is read as it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "any": [
                        {"all": awaiting_customer_48_hours()},
                        {"all": [{"field": "tags", "op": "has_tag", "value": "vip"}]},
                    ]
                }
            ]
        },
    )

    any: list[ConditionGroup]

    @model_validator(mode="before")
    @classmethod
    def _every_ticket(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and EVERY_TICKET_KEY in data:
            if dict(data) != EVERY_TICKET:
                raise _invalid('to match every ticket, write {"every_ticket": true} alone')
            return {"any": []}
        return data

    @field_validator("any")
    @classmethod
    def _check_size(cls, groups: list[ConditionGroup]) -> list[ConditionGroup]:
        if len(groups) > MAX_GROUPS:
            raise _invalid(f"at most {MAX_GROUPS} groups")
        return groups

    def conditions(self) -> Iterator[tuple[str, Condition]]:
        """Every condition with its pointer below the set (``any[0].all[1]``)."""
        for g, group in enumerate(self.any):
            for c, condition in enumerate(group.all):
                yield f"any[{g}].all[{c}]", condition

    @property
    def uses_changes(self) -> bool:
        """Whether a condition tests the triggering event's changes (Python only)."""
        return any(c.op in CHANGE_OPS for _, c in self.conditions())


EVERY_TICKET_KEY = "every_ticket"
# The explicit "match every ticket".
EVERY_TICKET: dict[str, Any] = {EVERY_TICKET_KEY: True}


def pointer(loc: Iterable[Any], root: str = "conditions") -> str:
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "conditions"


def _context(custom_fields: CustomFields | None) -> dict[str, Any]:
    index = custom_field_index(custom_fields)
    return {} if index is None else {"custom_fields": index}


def validate_conditions(
    data: Any, *, custom_fields: CustomFields | None = None, root: str = "conditions"
) -> list[ConditionIssue]:
    """Every problem in ``data`` (a dict or a ``ConditionSet``), with pointers below ``root``.

    With ``custom_fields`` (a list of definitions, possibly empty), conditions on custom
    fields are checked against their definitions; without, only as far as possible."""
    try:
        parse_conditions(data, custom_fields=custom_fields, strict=custom_fields is not None)
    except ConditionError as exc:
        issues = exc.issues
        if root != "conditions":
            issues = [
                ConditionIssue(root + i.pointer[len("conditions") :], i.message) for i in issues
            ]
        return issues
    return []


def parse_conditions(
    data: Any, *, custom_fields: CustomFields | None = None, strict: bool = True
) -> ConditionSet:
    """Validate ``data``; raises ``ConditionError``. ``strict`` requires custom fields'
    definitions (none given: no custom field is known)."""
    if isinstance(data, ConditionSet):
        data = data.model_dump()
    if strict and custom_fields is None:
        custom_fields = ()
    context = _context(custom_fields)
    try:
        return ConditionSet.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConditionError(
            [
                ConditionIssue(pointer(error["loc"]), str(error["msg"]))
                for error in exc.errors(include_url=False)
            ]
        ) from None


@dataclass(frozen=True)
class CompiledCondition:
    """A validated condition with its field resolved and value normalized."""

    pointer: str
    condition: Condition
    spec: FieldSpec
    value: Any
    # For relative time conditions.
    delta: timedelta | None

    @property
    def op(self) -> str:
        return self.condition.op

    @property
    def base_op(self) -> str:
        return NEGATIONS.get(self.condition.op, self.condition.op)

    @property
    def negated(self) -> bool:
        return self.condition.op in NEGATIONS

    @property
    def regex(self) -> SafeRegex:
        assert isinstance(self.value, SafeRegex)
        return self.value


@dataclass(frozen=True)
class ResolvedConditions:
    conditions: ConditionSet
    groups: list[list[CompiledCondition]]


def resolve_conditions(
    conditions: ConditionSet | Mapping[str, Any], custom_fields: CustomFields | None
) -> ResolvedConditions:
    """Validate fully (custom fields against their definitions) and resolve every condition,
    group by group. Raises ``ConditionError``."""
    checked = parse_conditions(conditions, custom_fields=custom_fields, strict=True)
    definitions = custom_field_index(custom_fields) or {}
    groups: list[list[CompiledCondition]] = []
    for g, group in enumerate(checked.any):
        resolved: list[CompiledCondition] = []
        for c, condition in enumerate(group.all):
            spec = resolve_field(condition.field, definitions)
            assert spec is not None
            value = normalize_value(spec, condition.op, condition.value)
            delta = None
            if condition.op in RELATIVE_TIME_OPS:
                assert condition.unit is not None
                delta = relative_delta(value, condition.unit)
            resolved.append(
                CompiledCondition(f"conditions.any[{g}].all[{c}]", condition, spec, value, delta)
            )
        groups.append(resolved)
    return ResolvedConditions(checked, groups)
