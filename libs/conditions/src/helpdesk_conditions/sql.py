"""Compile a condition set into a SQLAlchemy Core boolean clause over ticket-api's tables.

The clause filters rows of ``tables.ticket`` in an enclosing query, e.g.
``select(Ticket).where(compile_sql(conditions, tables, now=clock.now()))``. It selects
exactly the tickets whose snapshots the Python predicate accepts:

- ``now`` is bound as a parameter (never SQL ``now()``): relative times are computed once,
  in Python, the same way the predicate computes them.
- Case-insensitive text compares ``translate(lower(x COLLATE "und-x-icu"), <final sigma>,
  <sigma>)``, the same fold as Python's (see ``text.py``) whatever the database's own
  locale; the needle is folded in Python and LIKE wildcards in it are escaped.
- Regular expressions use the canonical form of the supported subset (see ``regex.py``),
  matched with ``~`` under the C collation.
- Every clause is two-valued (never NULL): a missing value makes a positive test false and
  its negation true, as in Python.

``changed`` / ``changed_to`` / ``changed_from`` test an event, not a row: they raise
``ConditionError``. PostgreSQL must have ICU (standard in the PostgreSQL packages and
images); the collation name is ``ICU_COLLATION``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helpdesk_events.vocabulary import SOCIAL_CHANNELS
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Double,
    FromClause,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from .fields import CHANGE_OPS
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
from .text import FINAL_SIGMA, LIKE_ESCAPE, SIGMA, like_escape

ICU_COLLATION = "und-x-icu"
_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_NULLABLE_COLUMNS = frozenset(
    {
        "sla_level",
        "sla_due_at",
        "referrer_url",
        "department_id",
        "agent_id",
        "first_customer_message_at",
        "last_customer_message_at",
        "first_agent_reply_at",
        "last_agent_reply_at",
        "last_message_at",
        "last_message_author",
    }
)
_MESSAGE_COLUMNS = {"from": "from_address", "to": "to", "cc": "cc", "bcc": "bcc", "body": "body"}

Clause = ColumnElement[bool]


@dataclass(frozen=True)
class TicketTables:
    """ticket-api's tables, filled in by the caller (``Ticket.__table__``, …), so this
    library does not import the service."""

    ticket: FromClause
    message: FromClause
    customer_group_member: FromClause
    agent: FromClause


def sql_fold(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """The SQL twin of ``text.fold``."""
    return func.translate(
        func.lower(expr.collate(ICU_COLLATION)),
        literal_column(f"'{FINAL_SIGMA}'"),
        literal_column(f"'{SIGMA}'"),
    )


@dataclass(frozen=True)
class _Value:
    """Where a field's value is in SQL: ``expr``, valid only where ``present`` holds (None:
    always), inside ``wrap`` (an EXISTS over a related row) when there is one."""

    expr: ColumnElement[Any]
    present: Clause | None = None
    wrap: Callable[[Clause], Clause] | None = None


class _Compiler:
    def __init__(self, tables: TicketTables, now: datetime) -> None:
        self.t = tables.ticket
        self.tables = tables
        self.now = now

    # -- where values are --------------------------------------------------------------

    def value(self, cc: CompiledCondition) -> _Value:
        spec = cc.spec
        t = self.t
        if spec.custom is not None:
            return self.custom_value(cc)
        if spec.name in _MESSAGE_COLUMNS:
            m = self.tables.message.alias()
            column = m.c[_MESSAGE_COLUMNS[spec.name]]
            ticket_id = t.c.last_message_id

            def in_last_message(clause: Clause) -> Clause:
                return (
                    select(literal_column("1"))
                    .where(m.c.id == ticket_id, clause)
                    .correlate(t)
                    .exists()
                )

            present = column.is_not(None) if spec.name == "from" else None
            return _Value(column, present, in_last_message)
        if spec.name == "deleted":
            return _Value(t.c.deleted_at.is_not(None))
        if spec.name == "agent_status":
            return self.agent_status()
        if spec.name == "customer_group":
            g = self.tables.customer_group_member.alias()

            def in_groups(clause: Clause) -> Clause:
                return (
                    select(literal_column("1"))
                    .where(g.c.customer_id == t.c.customer_id, clause)
                    .correlate(t)
                    .exists()
                )

            return _Value(g.c.group_id, None, in_groups)
        column = t.c[spec.name]
        return _Value(column, column.is_not(None) if spec.name in _NULLABLE_COLUMNS else None)

    def agent_status(self) -> _Value:
        # The assigned agent's availability on the ticket's channel; "offline" without an
        # entry for it (as tickets/snapshot.py computes agent_status).
        t, a = self.t, self.tables.agent.alias()
        channel = case(
            (t.c.channel.in_(("chat", "call")), t.c.channel),
            (t.c.channel.in_(SOCIAL_CHANNELS), literal("social")),
            else_=literal("email"),
        )
        availability = (
            select(a.c.availability.op("->>", return_type=Text)(channel))
            .where(a.c.id == t.c.agent_id)
            .correlate(t)
            .scalar_subquery()
        )
        return _Value(func.coalesce(availability, "offline"), t.c.agent_id.is_not(None))

    def custom_value(self, cc: CompiledCondition) -> _Value:
        assert cc.spec.custom is not None
        key, kind = cc.spec.custom.key, cc.spec.custom.type
        fields = self.t.c.custom_fields
        raw = fields.op("->", return_type=JSONB)(literal(key, Text))
        text = fields.op("->>", return_type=Text)(literal(key, Text))
        json_type = func.jsonb_typeof(raw)
        # IS NOT DISTINCT FROM: false, not NULL, for a missing key.
        is_string = json_type.is_not_distinct_from(literal("string", Text))
        if kind in ("text", "select"):
            return _Value(text, is_string)
        if kind == "number":
            is_number = json_type.is_not_distinct_from(literal("number", Text))
            # CASE keeps PostgreSQL from casting a value that is not a number.
            return _Value(case((is_number, cast(text, Double)), else_=null()), is_number)
        if kind == "boolean":
            return _Value(raw, json_type.is_not_distinct_from(literal("boolean", Text)))
        calendar = text.collate("C")
        return _Value(calendar, and_(is_string, calendar.bool_op("~")(literal(_DATE_PATTERN))))

    # -- positive tests ----------------------------------------------------------------

    def positive(self, cc: CompiledCondition, v: _Value) -> Clause:
        kind, base = cc.spec.type, cc.base_op
        if base == "is_set":
            if kind in ("tags", "address_list"):
                return func.cardinality(v.expr) > 0
            if kind == "text":
                return v.expr != ""
            return true()
        if kind == "text":
            return self.text_test(cc, v.expr)
        if kind == "address_list":
            address = func.unnest(v.expr).table_valued("address").render_derived()
            return (
                select(literal_column("1"))
                .select_from(address)
                .where(self.text_test(cc, address.c.address))
                .exists()
            )
        if kind == "tags":
            tags = v.expr
            if base == "has_tag":
                return tags.bool_op("@>")(literal([cc.value], tags.type))
            values = sorted(cc.value)
            return tags.bool_op("&&" if base == "has_any" else "@>")(literal(values, tags.type))
        if kind == "bool":
            return self.is_true(cc, v)
        if kind == "date":
            return self.date_test(cc, v.expr)
        if base in ("is", "eq"):
            return v.expr == literal(cc.value, v.expr.type)
        if base == "in":
            return v.expr.in_(sorted(cc.value, key=str))
        return {
            "gt": v.expr.__gt__,
            "gte": v.expr.__ge__,
            "lt": v.expr.__lt__,
            "lte": v.expr.__le__,
        }[base](literal(cc.value, Double))

    def text_test(self, cc: CompiledCondition, expr: ColumnElement[Any]) -> Clause:
        base = cc.base_op
        if base == "matches_regex":
            return expr.collate("C").bool_op("~")(literal(cc.regex.canonical, Text))
        folded = sql_fold(expr)
        if base == "is":
            return folded == literal(cc.value, Text)
        pattern = {
            "contains": "%{}%",
            "starts_with": "{}%",
            "ends_with": "%{}",
        }[base].format(like_escape(cc.value))
        return folded.like(literal(pattern, Text), escape=LIKE_ESCAPE)

    def is_true(self, cc: CompiledCondition, v: _Value) -> Clause:
        spec = cc.spec
        if spec.custom is not None:
            # Containment is two-valued and can use a GIN index on custom_fields.
            document = {spec.custom.key: True}
            return self.t.c.custom_fields.bool_op("@>")(literal(document, JSONB))
        if spec.name == "deleted":
            return v.expr  # deleted_at IS NOT NULL
        return v.expr.is_(True)

    def date_test(self, cc: CompiledCondition, expr: ColumnElement[Any]) -> Clause:
        base, delta = cc.base_op, cc.delta
        calendar = cc.spec.custom is not None

        def bound(value: Any) -> ColumnElement[Any]:
            return literal(value, Text) if calendar else literal(value, DateTime(timezone=True))

        if base == "before":
            return expr < bound(cc.value)
        if base == "after":
            return expr > bound(cc.value)
        assert delta is not None
        since = self.now - delta
        if calendar:
            low, high = ceil_date(since), floor_date(self.now)
            if base == "older_than":
                return expr < bound(low)
            return and_(expr >= bound(low), expr <= bound(high))
        if base == "older_than":
            return expr < bound(since)
        return and_(expr >= bound(since), expr <= bound(self.now))

    # -- conditions, groups, sets --------------------------------------------------------

    def condition(self, cc: CompiledCondition) -> Clause:
        if cc.op in CHANGE_OPS:
            raise ConditionError(
                [
                    ConditionIssue(
                        cc.pointer + ".op",
                        f"{cc.op} tests the change that triggered a rule and is not available "
                        "in searches or time rules; test the field's current value instead",
                    )
                ]
            )
        v = self.value(cc)
        clause = self.positive(cc, v)
        # A custom boolean's containment test needs no guard (and so stays indexable).
        guarded = not (cc.spec.custom is not None and cc.base_op == "is_true")
        if v.present is not None and guarded:
            clause = and_(v.present, clause)
        if v.wrap is not None:
            clause = v.wrap(clause)
        return not_(clause) if cc.negated else clause


def compile_sql(
    conditions: ConditionSet | Mapping[str, Any],
    tables: TicketTables,
    *,
    now: datetime,
    custom_fields: CustomFields | None = None,
) -> Clause:
    """A WHERE clause selecting the tickets the conditions match at ``now``.

    Raises ``ConditionError`` (with pointers) for invalid conditions and for conditions
    that test changes."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    resolved = resolve_conditions(conditions, custom_fields)
    compiler = _Compiler(tables, now)
    issues: list[ConditionIssue] = []
    groups: list[Clause] = []
    for group in resolved.groups:
        clauses: list[Clause] = []
        for cc in group:
            try:
                clauses.append(compiler.condition(cc))
            except ConditionError as exc:
                issues += exc.issues
        groups.append(and_(*clauses) if len(clauses) > 1 else clauses[0] if clauses else true())
    if issues:
        raise ConditionError(issues)
    if not groups:
        return true()
    return or_(*groups) if len(groups) > 1 else groups[0]
