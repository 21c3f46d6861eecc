"""Compile a condition set into a Python predicate over a ``TicketSnapshot``.

Everything that can be decided once is decided at compile time: values are parsed and case
folded, regular expressions compiled with RE2, lists turned into frozensets. Each condition
then becomes two Python expressions, its test and what it reads from the ticket, and the
expressions of a set are compiled into functions once:

- ``matches``: the tests of the groups joined with ``and`` / ``or`` (short-circuiting);
- ``evaluate``: every test's result, none skipped, and ``read``: every value read, which
  ``explain`` turns into a trace.

Calling a function per condition (and a getter per value) would cost more than the tests
themselves, so the tests are written inline. Because all functions are generated from the
same expressions, a trace always reports what ``matches`` decided. Evaluating touches no
pydantic validation and builds no intermediate objects beyond the folded text it compares.

Only our own templates and field paths go into the generated source; every value the user
gave is bound by name (k3, d3, r3...) in the functions' namespace, never spelled into code.

``now`` must be timezone-aware (compare it with the snapshot's aware timestamps).
"""

from __future__ import annotations

import itertools
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
    ResolvedConditions,
    ceil_date,
    floor_date,
    resolve_conditions,
)
from .text import fold

Changes = Mapping[str, Change]
Predicate = Callable[[TicketSnapshot, Changes | None, datetime], bool]
# The indexes of the condition sets that match, in order.
RuleSetMatcher = Callable[[TicketSnapshot, Changes | None, datetime], list[int]]
# Every condition's result, and every condition's value, in order (group by group).
_ConditionResults = Callable[[TicketSnapshot, Changes | None, datetime], tuple[bool, ...]]
_ConditionValues = Callable[[TicketSnapshot, Changes | None], tuple[Any, ...]]

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


# -- reading values ------------------------------------------------------------------------
#
# A custom field's stored value counts only when it has the definition's type; anything
# else reads as missing, in the snapshot and in an event's changes alike.


def _custom_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _custom_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _custom_boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _custom_date(value: Any) -> str | None:
    return value if _is_calendar_date(value) else None


_CUSTOM_VALUE: dict[str, Callable[[Any], Any]] = {
    "text": _custom_text,
    "select": _custom_text,
    "number": _custom_number,
    "boolean": _custom_boolean,
    "date": _custom_date,
}

# Fields read from the ticket's last message, and the message's attribute.
_MESSAGE_ATTRIBUTES = {"from": "from_address", "to": "to", "cc": "cc", "bcc": "bcc", "body": "body"}
_SNAPSHOT_SOURCES = {
    "deleted": "(s.deleted_at is not None)",
    "customer_group": "s.customer_group_ids",
}


def _value_source(i: int, spec: FieldSpec, namespace: dict[str, Any]) -> str:
    """The expression that reads a field's value from the snapshot ``s`` (None when absent)."""
    if spec.custom is not None:
        namespace[f"key{i}"] = spec.custom.key
        namespace[f"custom{i}"] = _CUSTOM_VALUE[spec.custom.type]
        return f"custom{i}(s.custom_fields.get(key{i}))"
    attribute = _MESSAGE_ATTRIBUTES.get(spec.name)
    if attribute is not None:
        return f"(m{i}.{attribute} if (m{i} := s.last_message) is not None else None)"
    return _SNAPSHOT_SOURCES.get(spec.name, f"s.{spec.name}")


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


# -- testing values ------------------------------------------------------------------------
#
# One template per (field type, positive operator); {src} reads the value, and a negative
# operator is ``not`` of its positive template. In the generated code, s is the snapshot,
# c the changes and n now; condition i's value is k{i}, its relative time d{i}, its regex
# search r{i}; v{i}, m{i} and h{i} hold what it read (the value, the last message, the
# change's (before, after)). F / FN and E / EN give remembered folded / UTF-8 forms.

_FOLD = "(F(v{i}) or FN(v{i}))"
_TEMPLATES: dict[tuple[str, str], str] = {
    ("text", "is"): "(v{i} := {src}) is not None and " + _FOLD + " == k{i}",
    ("text", "contains"): "(v{i} := {src}) is not None and k{i} in " + _FOLD,
    ("text", "starts_with"): "(v{i} := {src}) is not None and " + _FOLD + ".startswith(k{i})",
    ("text", "ends_with"): "(v{i} := {src}) is not None and " + _FOLD + ".endswith(k{i})",
    # Searching UTF-8 bytes skips re2's str wrapper (encoding, offset decoding).
    ("text", "matches_regex"): (
        "(v{i} := {src}) is not None and r{i}(E(v{i}) or EN(v{i})) is not None"
    ),
    ("text", "is_set"): "(v{i} := {src}) is not None and v{i} != ''",
    ("address_list", "contains"): (
        "(v{i} := {src}) is not None and any(k{i} in (F(a) or FN(a)) for a in v{i})"
    ),
    ("address_list", "is_set"): "bool({src})",
    ("enum", "is"): "{src} == k{i}",
    ("enum", "in"): "{src} in k{i}",
    ("enum", "is_set"): "{src} is not None",
    ("uuid", "is"): "{src} == k{i}",
    ("uuid", "in"): "{src} in k{i}",
    ("uuid", "is_set"): "{src} is not None",
    ("number", "eq"): "{src} == k{i}",
    ("number", "gt"): "(v{i} := {src}) is not None and v{i} > k{i}",
    ("number", "gte"): "(v{i} := {src}) is not None and v{i} >= k{i}",
    ("number", "lt"): "(v{i} := {src}) is not None and v{i} < k{i}",
    ("number", "lte"): "(v{i} := {src}) is not None and v{i} <= k{i}",
    ("number", "is_set"): "{src} is not None",
    ("date", "before"): "(v{i} := {src}) is not None and v{i} < k{i}",
    ("date", "after"): "(v{i} := {src}) is not None and v{i} > k{i}",
    ("date", "older_than"): "(v{i} := {src}) is not None and v{i} < n - d{i}",
    ("date", "within_last"): "(v{i} := {src}) is not None and n - d{i} <= v{i} <= n",
    ("date", "is_set"): "{src} is not None",
    ("bool", "is_true"): "{src} is True",
    ("bool", "is_set"): "{src} is not None",
    ("tags", "has_tag"): "k{i} in {src}",
    ("tags", "has_any"): "not k{i}.isdisjoint({src})",
    ("tags", "has_all"): "k{i}.issubset({src})",
    ("tags", "is_set"): "bool({src})",
    ("uuid_list", "is"): "k{i} in {src}",
    ("uuid_list", "in"): "not k{i}.isdisjoint({src})",
    ("uuid_list", "is_set"): "bool({src})",
}
# A custom date is a calendar day, which stands for its midnight UTC.
_CALENDAR_TEMPLATES: dict[str, str] = {
    "older_than": "(v{i} := {src}) is not None and v{i} < ceil_date(n - d{i})",
    "within_last": ("(v{i} := {src}) is not None and ceil_date(n - d{i}) <= v{i} <= floor_date(n)"),
}


# -- changes (the triggering event's before / after) ---------------------------------------


def _as_uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


def _change_normalizer(spec: FieldSpec) -> Callable[[Any], Any]:
    """Turns a before / after value of ``changes`` into what the field's tests compare."""
    if spec.custom is not None:
        key, custom_value = spec.custom.key, _CUSTOM_VALUE[spec.custom.type]
        return lambda values: custom_value(values.get(key) if isinstance(values, Mapping) else None)
    if spec.name == "deleted":
        return lambda v: v is not None
    if spec.type == "uuid":
        return _as_uuid
    if spec.type == "tags":
        return lambda v: frozenset(v) if isinstance(v, list | tuple) else frozenset()
    if spec.type == "date":
        return lambda v: v.isoformat() if isinstance(v, datetime | date) else v
    return lambda v: v


def _normalized_change(
    changes: Changes | None, key: str, normalize: Callable[[Any], Any]
) -> tuple[Any, Any] | None:
    """A field's (before, after) in the event's changes, normalized; None when the event
    carries no change of it."""
    change = changes.get(key) if changes else None
    if change is None:
        return None
    return normalize(change.before), normalize(change.after)


def _moved(
    changes: Changes | None, key: str, normalize: Callable[[Any], Any]
) -> tuple[Any, Any] | None:
    """A field's (before, after) in the event's changes; None when it did not change."""
    change = _normalized_change(changes, key, normalize)
    return None if change is None or change[0] == change[1] else change


def _change_values(
    changes: Changes | None, key: str, normalize: Callable[[Any], Any]
) -> dict[str, Any] | None:
    """What a trace shows for a changed* test: the change as the test saw it."""
    change = _normalized_change(changes, key, normalize)
    return None if change is None else {"before": change[0], "after": change[1]}


def _change_test(i: int, cc: CompiledCondition) -> str:
    moved = f"moved(c, change_key{i}, normalize{i})"
    if cc.op == "changed":
        return f"{moved} is not None"
    side = 1 if cc.op == "changed_to" else 0
    if cc.spec.type == "tags":
        # A tag "changed to" x was added; "changed from" x was removed.
        return (
            f"(h{i} := {moved}) is not None and k{i} in h{i}[{side}] "
            f"and k{i} not in h{i}[{1 - side}]"
        )
    value = f"h{i}[{side}]"
    if cc.spec.type == "text":
        equals = f"isinstance({value}, str) and fold({value}) == k{i}"
    elif cc.spec.type == "number":
        equals = f"{value} is not None and {value} == k{i}"
    else:
        equals = f"{value} == k{i}"
    return f"(h{i} := {moved}) is not None and {equals}"


# -- one condition's code -------------------------------------------------------------------


@dataclass(frozen=True)
class _ConditionCode:
    # True when the condition holds.
    test: str
    # What the ticket had, for traces: the field's value, or {"before", "after"} for
    # changed* tests.
    actual: str


def _condition_code(i: int, cc: CompiledCondition, namespace: dict[str, Any]) -> _ConditionCode:
    """Condition ``i``'s test and value expressions; binds the values they use by name."""
    spec = cc.spec
    namespace[f"k{i}"] = cc.value
    if cc.op in CHANGE_OPS:
        namespace[f"change_key{i}"] = spec.change_key
        namespace[f"normalize{i}"] = _change_normalizer(spec)
        actual = f"change_values(c, change_key{i}, normalize{i})"
        return _ConditionCode(_change_test(i, cc), actual)
    namespace[f"d{i}"] = cc.delta
    if cc.base_op == "matches_regex":
        namespace[f"r{i}"] = cc.regex.compile().search
    template = _TEMPLATES[(spec.type, cc.base_op)]
    if spec.custom is not None and spec.type == "date":
        template = _CALENDAR_TEMPLATES.get(cc.base_op, template)
    source = _value_source(i, spec, namespace)
    test = template.format(i=i, src=source)
    return _ConditionCode(f"not ({test})" if cc.negated else test, source)


def _namespace() -> dict[str, Any]:
    return {
        "F": _FOLDED.values.get,
        "FN": _FOLDED.compute,
        "E": _UTF8.values.get,
        "EN": _UTF8.compute,
        "fold": fold,
        "ceil_date": ceil_date,
        "floor_date": floor_date,
        "moved": _moved,
        "change_values": _change_values,
    }


def _define(source: str, namespace: dict[str, Any]) -> None:
    # The source holds only our templates and names; see the module's docstring.
    exec(compile(source, "<helpdesk_conditions>", "exec"), namespace)  # noqa: S102


def _any_of_all(groups: Sequence[Sequence[str]]) -> str:
    alternatives = [" and ".join(f"({test})" for test in group) for group in groups]
    return " or ".join(f"({a})" for a in alternatives) if alternatives else "True"


def _tuple_of(expressions: Sequence[str]) -> str:
    return "(" + "".join(f"({e}), " for e in expressions) + ")"


def _generate(
    groups: Sequence[Sequence[CompiledCondition]],
) -> tuple[Predicate, _ConditionResults, _ConditionValues]:
    """``matches``, ``evaluate`` and ``read`` of one condition set (see the module's
    docstring)."""
    namespace = _namespace()
    counter = itertools.count()
    codes = [[_condition_code(next(counter), cc, namespace) for cc in group] for group in groups]
    every = [code for group in codes for code in group]
    source = "\n".join(
        [
            "def matches(s, c, n):",
            f"    return {_any_of_all([[code.test for code in group] for group in codes])}",
            "def evaluate(s, c, n):",
            f"    return {_tuple_of([code.test for code in every])}",
            "def read(s, c):",
            f"    return {_tuple_of([code.actual for code in every])}",
            "",
        ]
    )
    _define(source, namespace)
    return namespace["matches"], namespace["evaluate"], namespace["read"]


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
                    expressions[key] = (i, _condition_code(i, cc, namespace).test)
                i, expression = expressions[key]
                refs[-1].append(f"t{i} if t{i} is not None else (t{i} := ({expression}))")
        body.append(f"    if {_any_of_all(refs)}:\n        out.append({r})")
    header = ["def matching(s, c, n):", "    out = []"]
    header += [f"    t{i} = None" for i in range(len(expressions))]
    _define("\n".join([*header, *body, "    return out", ""]), namespace)
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


@dataclass(frozen=True, eq=False)
class PythonConditions:
    """A compiled condition set. ``matches(snapshot, changes, now)`` is the fast path;
    ``explain`` gives the trace, from the same generated tests."""

    conditions: ConditionSet
    matches: Predicate
    _groups: tuple[tuple[CompiledCondition, ...], ...] = field(repr=False)
    _evaluate: _ConditionResults = field(repr=False)
    _read: _ConditionValues = field(repr=False)

    def explain(self, snapshot: TicketSnapshot, changes: Changes | None, now: datetime) -> Trace:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        passed = iter(self._evaluate(snapshot, changes, now))
        actual = iter(self._read(snapshot, changes))
        groups: list[GroupTrace] = []
        for index, group in enumerate(self._groups):
            traces = [
                ConditionTrace(
                    pointer=cc.pointer,
                    field=cc.condition.field,
                    op=cc.op,
                    expected=cc.condition.value,
                    unit=cc.condition.unit,
                    actual=next(actual),
                    passed=next(passed),
                )
                for cc in group
            ]
            groups.append(GroupTrace(index, all(t.passed for t in traces), traces))
        matched = not groups or any(g.matched for g in groups)
        return Trace(matched=matched, groups=groups, matches_everything=not groups)


def _compile_resolved(resolved: ResolvedConditions) -> PythonConditions:
    matches, evaluate, read = _generate(resolved.groups)
    groups = tuple(tuple(group) for group in resolved.groups)
    return PythonConditions(resolved.conditions, matches, groups, evaluate, read)


def compile_python(
    conditions: ConditionSet | Mapping[str, Any], *, custom_fields: CustomFields | None = None
) -> PythonConditions:
    """Validate and compile once; evaluate many times. Raises ``ConditionError``."""
    return _compile_resolved(resolve_conditions(conditions, custom_fields))


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
        compiled.append(_compile_resolved(one))
    return PythonRuleSet(tuple(compiled), _generate_rule_set(resolved))
