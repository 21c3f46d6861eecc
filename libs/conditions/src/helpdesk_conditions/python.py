"""Compile a condition set into a Python predicate over a ``TicketSnapshot``.

Everything that can be decided once is decided at compile time: values are parsed and case
folded, regular expressions compiled with RE2, lists turned into frozensets, and each
condition becomes one small closure. Evaluating touches no pydantic validation and builds
no intermediate objects beyond the folded text it compares.

``now`` must be timezone-aware (compare it with the snapshot's aware timestamps).
"""

from __future__ import annotations

import itertools
import operator
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from helpdesk_events import Change, TicketSnapshot

from .fields import CHANGE_OPS, FieldSpec
from .model import (
    CompiledCondition,
    ConditionError,
    ConditionIssue,
    ConditionSet,
    CustomFields,
    ceil_date,
    floor_date,
    resolve_conditions,
)
from .text import fold

Changes = Mapping[str, Change]
Predicate = Callable[[TicketSnapshot, Changes | None, datetime], bool]
# The indexes of the condition sets that match, in order.
RuleSetMatcher = Callable[[TicketSnapshot, Changes | None, datetime], list[int]]
Getter = Callable[[TicketSnapshot], Any]

_DATE_LENGTH = 10


def _is_calendar_date(value: object) -> bool:
    # The shape ticket-api stores custom dates in; the SQL compiler checks the same shape.
    return (
        isinstance(value, str)
        and len(value) == _DATE_LENGTH
        and value[4] == "-"
        and value[7] == "-"
        and (value[:4] + value[5:7] + value[8:]).isascii()
        and (value[:4] + value[5:7] + value[8:]).isdigit()
    )


def _custom_getter(spec: FieldSpec) -> Getter:
    assert spec.custom is not None
    key, kind = spec.custom.key, spec.custom.type
    if kind in ("text", "select"):

        def text_value(s: TicketSnapshot) -> Any:
            v = s.custom_fields.get(key)
            return v if isinstance(v, str) else None

        return text_value
    if kind == "number":

        def number_value(s: TicketSnapshot) -> Any:
            v = s.custom_fields.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return float(v)
            return None

        return number_value
    if kind == "boolean":

        def bool_value(s: TicketSnapshot) -> Any:
            v = s.custom_fields.get(key)
            return v if isinstance(v, bool) else None

        return bool_value

    def date_value(s: TicketSnapshot) -> Any:
        v = s.custom_fields.get(key)
        return v if _is_calendar_date(v) else None

    return date_value


def _message_getter(attribute: str) -> Getter:
    def get(s: TicketSnapshot) -> Any:
        m = s.last_message
        return None if m is None else getattr(m, attribute)

    return get


def _deleted(s: TicketSnapshot) -> bool:
    return s.deleted_at is not None


def _customer_groups(s: TicketSnapshot) -> list[uuid.UUID]:
    return s.customer_group_ids


_GETTERS: dict[str, Getter] = {
    "from": _message_getter("from_address"),
    "to": _message_getter("to"),
    "cc": _message_getter("cc"),
    "bcc": _message_getter("bcc"),
    "body": _message_getter("body"),
    "deleted": _deleted,
    "customer_group": _customer_groups,
}


def getter(spec: FieldSpec) -> Getter:
    """How to read a field's value from a snapshot (None when absent)."""
    if spec.custom is not None:
        return _custom_getter(spec)
    return _GETTERS.get(spec.name) or operator.attrgetter(spec.name)


class _Memo:
    """``function(text)`` for recently seen texts.

    The rules of a rule set test the same snapshot's subject and body again and again. A
    str caches its hash and a dict compares identity first, so finding the same text
    again costs far less than lowercasing or encoding it. Bounded by total characters;
    when full it starts over."""

    def __init__(self, function: Callable[[str], Any], max_chars: int = 4_000_000) -> None:
        self.values: dict[str, Any] = {}
        self._function = function
        self._max_chars = max_chars
        self._chars = 0

    def compute(self, text: str) -> Any:
        value = self._function(text)
        size = len(text)
        if size <= self._max_chars // 64:
            if self._chars + size > self._max_chars:
                self.values.clear()
                self._chars = 0
            self.values[text] = value
            self._chars += size
        return value


_FOLDED = _Memo(fold)
_UTF8 = _Memo(str.encode)


def _text_predicate(cc: CompiledCondition, get: Getter) -> Predicate:
    base = cc.base_op
    if base == "is_set":

        def is_set(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and v != ""

        return is_set
    if base == "matches_regex":
        # Searching UTF-8 bytes skips re2's str wrapper (encoding, offset decoding).
        search = cc.regex.compile().search
        encoded, encode = _UTF8.values.get, _UTF8.compute

        def matches(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and search(encoded(v) or encode(v)) is not None

        return matches
    needle: str = cc.value
    folded, fold_now = _FOLDED.values.get, _FOLDED.compute
    if base == "is":

        def equals(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and (folded(v) or fold_now(v)) == needle

        return equals
    if base == "contains":

        def contains(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and needle in (folded(v) or fold_now(v))

        return contains
    if base == "starts_with":

        def starts_with(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and (folded(v) or fold_now(v)).startswith(needle)

        return starts_with
    assert base == "ends_with"

    def ends_with(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        v = get(s)
        return v is not None and (folded(v) or fold_now(v)).endswith(needle)

    return ends_with


def _address_predicate(cc: CompiledCondition, get: Getter) -> Predicate:
    if cc.base_op == "is_set":

        def any_address(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return bool(get(s))

        return any_address
    needle: str = cc.value
    folded, fold_now = _FOLDED.values.get, _FOLDED.compute

    def contains(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        addresses = get(s)
        if addresses:
            for address in addresses:
                if needle in (folded(address) or fold_now(address)):
                    return True
        return False

    return contains


def _value_predicate(cc: CompiledCondition, get: Getter) -> Predicate:
    """enum, uuid and number fields: equality, membership, order."""
    base, expected = cc.base_op, cc.value
    if base == "is_set":

        def is_set(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return get(s) is not None

        return is_set
    if base in ("is", "eq"):
        wanted: object = expected

        def equals(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v: object = get(s)
            return v == wanted

        return equals
    if base == "in":

        def is_in(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return get(s) in expected

        return is_in
    compare: Callable[[Any, Any], bool] = {
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
    }[base]

    def ordered(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        v = get(s)
        return v is not None and compare(v, expected)

    return ordered


def _uuid_list_predicate(cc: CompiledCondition, get: Getter) -> Predicate:
    base, expected = cc.base_op, cc.value
    if base == "is_set":

        def any_member(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return bool(get(s))

        return any_member
    if base == "is":

        def member(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return expected in get(s)

        return member

    def member_of_any(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        return not expected.isdisjoint(get(s))

    return member_of_any


def _date_predicate(cc: CompiledCondition, get: Getter) -> Predicate:
    base, expected, delta = cc.base_op, cc.value, cc.delta
    calendar = cc.spec.custom is not None
    if base == "is_set":

        def is_set(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return get(s) is not None

        return is_set
    if base == "before":

        def before(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and v < expected

        return before
    if base == "after":

        def after(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and v > expected

        return after
    assert delta is not None
    if calendar:
        # A calendar date stands for its midnight UTC.
        if base == "older_than":

            def date_older_than(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
                v = get(s)
                return v is not None and v < ceil_date(n - delta)

            return date_older_than

        def date_within_last(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and ceil_date(n - delta) <= v <= floor_date(n)

        return date_within_last
    if base == "older_than":

        def older_than(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            v = get(s)
            return v is not None and v < n - delta

        return older_than

    def within_last(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        v = get(s)
        return v is not None and n - delta <= v <= n

    return within_last


def _bool_predicate(cc: CompiledCondition, get: Getter) -> Predicate:
    if cc.base_op == "is_set":

        def is_set(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return get(s) is not None

        return is_set

    def is_true(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        return get(s) is True

    return is_true


def _tags_predicate(cc: CompiledCondition, get: Getter) -> Predicate:
    base = cc.base_op
    expected: frozenset[str] = cc.value if isinstance(cc.value, frozenset) else frozenset()
    tag: str = cc.value if isinstance(cc.value, str) else ""
    if base == "is_set":

        def any_tag(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return bool(s.tags)

        return any_tag
    if base == "has_tag":

        def has_tag(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return tag in s.tags

        return has_tag
    if base == "has_any":

        def has_any(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return not expected.isdisjoint(s.tags)

        return has_any

    def has_all(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        return expected.issubset(s.tags)

    return has_all


_BY_TYPE: dict[str, Callable[[CompiledCondition, Getter], Predicate]] = {
    "text": _text_predicate,
    "address_list": _address_predicate,
    "enum": _value_predicate,
    "uuid": _value_predicate,
    "number": _value_predicate,
    "uuid_list": _uuid_list_predicate,
    "date": _date_predicate,
    "bool": _bool_predicate,
    "tags": _tags_predicate,
}


# -- changes (the triggering event's before / after) ---------------------------------------


def _as_uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


def _as_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _change_normalizer(spec: FieldSpec) -> Callable[[Any], Any]:
    """Turns a before / after value of ``changes`` into what the field's tests compare."""
    if spec.custom is not None:
        key, kind = spec.custom.key, spec.custom.type

        def custom_value(values: Any) -> Any:
            v = values.get(key) if isinstance(values, Mapping) else None
            if kind == "number":
                return _as_number(v)
            if kind == "date":
                return v if _is_calendar_date(v) else None
            if kind == "boolean":
                return v if isinstance(v, bool) else None
            return v if isinstance(v, str) else None

        return custom_value
    if spec.name == "deleted":
        return lambda v: v is not None
    if spec.type == "uuid":
        return _as_uuid
    if spec.type == "tags":
        return lambda v: frozenset(v) if isinstance(v, list | tuple) else frozenset()
    if spec.type == "date":
        return lambda v: v.isoformat() if isinstance(v, datetime | date) else v
    return lambda v: v


def _change_equals(spec: FieldSpec, expected: Any) -> Callable[[Any], bool]:
    if spec.type == "text":
        return lambda v: isinstance(v, str) and fold(v) == expected
    if spec.type == "number":
        return lambda v: v is not None and v == expected
    return lambda v: bool(v == expected)


def _change_predicate(cc: CompiledCondition) -> Predicate:
    spec = cc.spec
    key = spec.change_key
    assert key is not None
    normalize = _change_normalizer(spec)

    def values(c: Changes | None) -> tuple[Any, Any] | None:
        change = c.get(key) if c else None
        if change is None:
            return None
        before, after = normalize(change.before), normalize(change.after)
        return None if before == after else (before, after)

    op, expected = cc.op, cc.value
    if op == "changed":

        def changed(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            return values(c) is not None

        return changed
    if spec.type == "tags":
        # A tag "changed to" x was added; "changed from" x was removed.
        side = 1 if op == "changed_to" else 0

        def tag_moved(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
            moved = values(c)
            return moved is not None and expected in moved[side] and expected not in moved[1 - side]

        return tag_moved
    equals = _change_equals(spec, expected)
    index = 1 if op == "changed_to" else 0

    def changed_value(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        moved = values(c)
        return moved is not None and equals(moved[index])

    return changed_value


def _change_actual(cc: CompiledCondition, changes: Changes | None) -> Any:
    key = cc.spec.change_key
    change = changes.get(key) if changes and key else None
    if change is None:
        return None
    normalize = _change_normalizer(cc.spec)
    return {"before": normalize(change.before), "after": normalize(change.after)}


# -- compiling and explaining --------------------------------------------------------------


def _condition_predicate(cc: CompiledCondition) -> Predicate:
    if cc.op in CHANGE_OPS:
        return _change_predicate(cc)
    positive = _BY_TYPE[cc.spec.type](cc, getter(cc.spec))
    if not cc.negated:
        return positive

    def negated(s: TicketSnapshot, c: Changes | None, n: datetime) -> bool:
        return not positive(s, c, n)

    return negated


# -- one generated function per condition set ---------------------------------------------
#
# Calling a closure per condition (and a getter per value) costs more than the tests
# themselves, so ``matches`` is generated as a single expression. Only our own templates
# and field paths go into the source; every value the user gave is bound by name (k3, d3,
# r3...) in the function's namespace, never spelled into the code. Conditions without a
# template (changes, custom fields, address lists) call their closure (p3).

_SOURCES: dict[str, str] = {
    "from": "(m{i}.from_address if (m{i} := s.last_message) is not None else None)",
    "body": "(m{i}.body if (m{i} := s.last_message) is not None else None)",
    "deleted": "(s.deleted_at is not None)",
    "customer_group": "s.customer_group_ids",
}
_FOLD = "(F(v{i}) or FN(v{i}))"
_TEMPLATES: dict[tuple[str, str], str] = {
    ("text", "is"): "(v{i} := {src}) is not None and " + _FOLD + " == k{i}",
    ("text", "contains"): "(v{i} := {src}) is not None and k{i} in " + _FOLD,
    ("text", "starts_with"): "(v{i} := {src}) is not None and " + _FOLD + ".startswith(k{i})",
    ("text", "ends_with"): "(v{i} := {src}) is not None and " + _FOLD + ".endswith(k{i})",
    ("text", "matches_regex"): (
        "(v{i} := {src}) is not None and r{i}(E(v{i}) or EN(v{i})) is not None"
    ),
    ("text", "is_set"): "(v{i} := {src}) is not None and v{i} != ''",
    ("enum", "is"): "{src} == k{i}",
    ("enum", "in"): "{src} in k{i}",
    ("enum", "is_set"): "{src} is not None",
    ("uuid", "is"): "{src} == k{i}",
    ("uuid", "in"): "{src} in k{i}",
    ("uuid", "is_set"): "{src} is not None",
    ("date", "before"): "(v{i} := {src}) is not None and v{i} < k{i}",
    ("date", "after"): "(v{i} := {src}) is not None and v{i} > k{i}",
    ("date", "older_than"): "(v{i} := {src}) is not None and v{i} < n - d{i}",
    ("date", "within_last"): "(v{i} := {src}) is not None and n - d{i} <= v{i} <= n",
    ("date", "is_set"): "{src} is not None",
    ("bool", "is_true"): "{src} is True",
    ("tags", "has_tag"): "k{i} in {src}",
    ("tags", "has_any"): "not k{i}.isdisjoint({src})",
    ("tags", "has_all"): "k{i}.issubset({src})",
    ("tags", "is_set"): "bool({src})",
    ("uuid_list", "is"): "k{i} in {src}",
    ("uuid_list", "in"): "not k{i}.isdisjoint({src})",
    ("uuid_list", "is_set"): "bool({src})",
}


def _expression(i: int, cc: CompiledCondition, namespace: dict[str, Any]) -> str:
    spec = cc.spec
    template = _TEMPLATES.get((spec.type, cc.base_op))
    if spec.custom is not None or cc.op in CHANGE_OPS or template is None:
        namespace[f"p{i}"] = _condition_predicate(cc)
        return f"p{i}(s, c, n)"
    namespace[f"k{i}"] = cc.value
    namespace[f"d{i}"] = cc.delta
    if cc.base_op == "matches_regex":
        namespace[f"r{i}"] = cc.regex.compile().search
    source = _SOURCES.get(spec.name, f"s.{spec.name}").format(i=i)
    test = template.format(i=i, src=source)
    return f"not ({test})" if cc.negated else test


def _namespace() -> dict[str, Any]:
    return {
        "F": _FOLDED.values.get,
        "FN": _FOLDED.compute,
        "E": _UTF8.values.get,
        "EN": _UTF8.compute,
    }


def _any_of_all(groups: Sequence[Sequence[str]]) -> str:
    alternatives = [" and ".join(f"({test})" for test in group) for group in groups]
    return " or ".join(f"({a})" for a in alternatives) if alternatives else "True"


def _generate(groups: Sequence[Sequence[CompiledCondition]]) -> Predicate:
    namespace = _namespace()
    counter = itertools.count()
    tests = [[_expression(next(counter), cc, namespace) for cc in group] for group in groups]
    source = f"def matches(s, c, n):\n    return {_any_of_all(tests)}\n"
    exec(compile(source, "<helpdesk_conditions>", "exec"), namespace)  # noqa: S102 - see above
    matches: Predicate = namespace["matches"]
    return matches


def _generate_rule_set(rules: Sequence[Sequence[Sequence[CompiledCondition]]]) -> RuleSetMatcher:
    """One function for many condition sets: a condition that several sets share is
    evaluated at most once per call (t3 remembers it), and only when a set needs it."""
    namespace = _namespace()
    expressions: dict[str, tuple[int, str]] = {}
    body: list[str] = []
    for r, groups in enumerate(rules):
        refs: list[list[str]] = []
        for group in groups:
            refs.append([])
            for cc in group:
                key = cc.condition.model_dump_json()
                if key not in expressions:
                    i = len(expressions)
                    expressions[key] = (i, _expression(i, cc, namespace))
                i, expression = expressions[key]
                refs[-1].append(f"t{i} if t{i} is not None else (t{i} := ({expression}))")
        body.append(f"    if {_any_of_all(refs)}:\n        out.append({r})")
    header = ["def matching(s, c, n):", "    out = []"]
    header += [f"    t{i} = None" for i in range(len(expressions))]
    source = "\n".join([*header, *body, "    return out", ""])
    exec(compile(source, "<helpdesk_conditions>", "exec"), namespace)  # noqa: S102 - see above
    matching: RuleSetMatcher = namespace["matching"]
    return matching


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, frozenset | set):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ConditionTrace:
    pointer: str
    field: str
    op: str
    # The condition's value as written (with its unit for relative times).
    expected: Any
    unit: str | None
    # What the ticket had: the field's value, or {"before", "after"} for changed_* tests.
    actual: Any
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "pointer": self.pointer,
            "field": self.field,
            "op": self.op,
            "expected": _jsonable(self.expected),
            "unit": self.unit,
            "actual": _jsonable(self.actual),
            "passed": self.passed,
        }


@dataclass(frozen=True)
class GroupTrace:
    index: int
    matched: bool
    conditions: list[ConditionTrace]

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "matched": self.matched,
            "conditions": [c.as_dict() for c in self.conditions],
        }


@dataclass(frozen=True)
class Trace:
    """Why a condition set did or did not match: every condition of every group evaluated
    (no short-circuit), with what the ticket had and what the condition expected."""

    matched: bool
    groups: list[GroupTrace]
    # True when the set has no groups and so matches every ticket.
    matches_everything: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "matches_everything": self.matches_everything,
            "groups": [g.as_dict() for g in self.groups],
        }


@dataclass(frozen=True)
class _Compiled:
    condition: CompiledCondition
    predicate: Predicate
    read: Getter | None


@dataclass(frozen=True, eq=False)
class PythonConditions:
    """A compiled condition set. ``matches(snapshot, changes, now)`` is the fast path;
    ``explain`` gives the trace."""

    conditions: ConditionSet
    matches: Predicate
    _groups: tuple[tuple[_Compiled, ...], ...] = field(repr=False)

    def explain(self, snapshot: TicketSnapshot, changes: Changes | None, now: datetime) -> Trace:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        groups: list[GroupTrace] = []
        for index, group in enumerate(self._groups):
            traces: list[ConditionTrace] = []
            for compiled in group:
                cc = compiled.condition
                actual = (
                    compiled.read(snapshot)
                    if compiled.read is not None
                    else _change_actual(cc, changes)
                )
                traces.append(
                    ConditionTrace(
                        pointer=cc.pointer,
                        field=cc.condition.field,
                        op=cc.op,
                        expected=cc.condition.value,
                        unit=cc.condition.unit,
                        actual=actual,
                        passed=compiled.predicate(snapshot, changes, now),
                    )
                )
            groups.append(GroupTrace(index, all(t.passed for t in traces), traces))
        matched = not groups or any(g.matched for g in groups)
        return Trace(matched=matched, groups=groups, matches_everything=not groups)


def compile_python(
    conditions: ConditionSet | Mapping[str, Any], *, custom_fields: CustomFields | None = None
) -> PythonConditions:
    """Validate and compile once; evaluate many times. Raises ``ConditionError``."""
    resolved = resolve_conditions(conditions, custom_fields)
    groups: list[tuple[_Compiled, ...]] = []
    for group in resolved.groups:
        compiled: list[_Compiled] = []
        for cc in group:
            read = None if cc.op in CHANGE_OPS else getter(cc.spec)
            compiled.append(_Compiled(cc, _condition_predicate(cc), read))
        groups.append(tuple(compiled))
    matches = _generate(resolved.groups)
    return PythonConditions(resolved.conditions, matches, tuple(groups))


@dataclass(frozen=True, eq=False)
class PythonRuleSet:
    """Many condition sets (a rule set) compiled together. ``matching(snapshot, changes,
    now)`` gives the indexes of the sets that match, in order; ``rules[i]`` is set i
    compiled alone (for ``explain``)."""

    rules: tuple[PythonConditions, ...]
    matching: RuleSetMatcher


def compile_rule_set(
    condition_sets: Sequence[ConditionSet | Mapping[str, Any]],
    *,
    custom_fields: CustomFields | None = None,
) -> PythonRuleSet:
    """Compile the conditions of a whole rule set into one function. Raises
    ``ConditionError`` for the first invalid set, its pointers prefixed with
    ``rules[i].``."""
    compiled: list[PythonConditions] = []
    resolved: list[list[list[CompiledCondition]]] = []
    for index, conditions in enumerate(condition_sets):
        try:
            one = resolve_conditions(conditions, custom_fields)
        except ConditionError as exc:
            raise ConditionError(
                [ConditionIssue(f"rules[{index}].{i.pointer}", i.message) for i in exc.issues]
            ) from None
        resolved.append(one.groups)
        compiled.append(compile_python(one.conditions, custom_fields=custom_fields))
    return PythonRuleSet(tuple(compiled), _generate_rule_set(resolved))
