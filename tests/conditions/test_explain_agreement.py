"""Property tests: ``explain()`` tells the same story as ``matches()``, for every field and
operator, the ``changed*`` operators included.

Tickets and conditions come from the strategies the Python-vs-SQL agreement test uses; the
snapshots are built by ticket-api's own snapshot code from those rows, with the directory's
group memberships and availabilities, so no database is needed here. Each condition's
trace is also checked against the condition compiled alone, so a trace that is wrong for
one condition cannot hide behind the others of its set."""

from __future__ import annotations

import uuid
from typing import Any

from helpdesk_conditions import (
    FIELDS,
    Changes,
    compile_python,
    compile_rule_set,
)
from helpdesk_conditions.fields import CHANGE_OPS, FieldSpec, custom_field_spec
from helpdesk_events import Change, TicketSnapshot
from helpdesk_ticket_api.models import Message, Ticket
from helpdesk_ticket_api.tickets.snapshot import SnapshotContext, ticket_snapshot
from hypothesis import Phase, event, given, settings
from hypothesis import strategies as st

from .conftest import AVAILABILITIES, CUSTOM_FIELDS, MEMBERSHIPS, NOW, Directory
from .strategies import (
    SLA_LEVELS,
    TAGS,
    calendar_dates,
    conditions,
    custom_values,
    instants,
    needles,
    patterns,
    ticket_rows,
)

PROPERTY = settings(max_examples=150, deadline=None)

DIRECTORY = Directory(
    departments=[uuid.UUID(int=0xD0 + i) for i in range(2)],
    agents=[uuid.UUID(int=0xA0 + i) for i in range(len(AVAILABILITIES))],
    customers=[uuid.UUID(int=0xC0 + i) for i in range(len(MEMBERSHIPS))],
    groups=[uuid.UUID(int=0xB0 + i) for i in range(3)],
)

# Texts a change moves between; condition values come from the same pool (in some case),
# so changed_to / changed_from often hit.
CHANGE_TEXTS = ["Refund", "REFUND", "Straße", "STRASSE", "İstanbul", "printer on fire", ""]
CUSTOM_BY_KEY = {f.key: f for f in CUSTOM_FIELDS}


def snapshot_of(row: dict[str, Any], message: dict[str, Any] | None) -> TicketSnapshot:
    ticket = Ticket(**row)
    last = (
        Message(**message, internal=False, author_id=None, subject=None)
        if message is not None
        else None
    )
    customer, agent = row["customer_id"], row["agent_id"]
    context = SnapshotContext(
        customer_email=None if customer is None else f"{customer.hex}@example.com",
        customer_group_ids=None
        if customer is None
        else [DIRECTORY.groups[g] for g in MEMBERSHIPS[DIRECTORY.customers.index(customer)]],
        agent_availability=None if agent is None else AVAILABILITIES[DIRECTORY.agents.index(agent)],
        last_message=last,
    )
    return ticket_snapshot(ticket, context)


snapshots = ticket_rows(DIRECTORY).map(lambda pair: snapshot_of(*pair))


def _change_values(field: str) -> st.SearchStrategy[Any]:
    """Values of ``changes[...]`` for a field, as events carry them (JSON)."""
    spec = FIELDS.get(field)
    if field.startswith("custom_fields."):
        return custom_values()
    assert spec is not None
    if spec.name == "deleted":
        return st.none() | instants().map(lambda i: i.isoformat())
    if spec.type == "text":
        return st.none() | st.sampled_from(CHANGE_TEXTS)
    if spec.type == "enum":
        return st.none() | st.sampled_from(list(spec.values or SLA_LEVELS))
    if spec.type == "uuid":
        pool = DIRECTORY.departments if spec.name == "department_id" else DIRECTORY.agents
        return st.none() | st.sampled_from([str(i) for i in pool])
    if spec.type == "tags":
        return st.lists(st.sampled_from(TAGS), unique=True, max_size=3)
    if spec.type == "bool":
        return st.booleans()
    assert spec.type == "date"
    return st.none() | instants().map(lambda i: i.isoformat())


def _spec(field: str) -> FieldSpec:
    if field.startswith("custom_fields."):
        return custom_field_spec(CUSTOM_BY_KEY[field.removeprefix("custom_fields.")])
    return FIELDS[field]


def _pool(spec: FieldSpec) -> list[str]:
    if spec.type == "uuid_list":
        ids = DIRECTORY.groups
    else:
        ids = DIRECTORY.departments if spec.name == "department_id" else DIRECTORY.agents
    return [str(i) for i in ids] + [str(uuid.UUID(int=0xFF))]


def condition_values(field: str, op: str) -> st.SearchStrategy[dict[str, Any]]:
    """The value (and unit) of a valid condition with this field and operator, drawn from
    the agreement test's pools."""
    spec = _spec(field)
    kind = spec.type
    if op in ("is_set", "is_empty", "is_true", "is_false", "changed"):
        return st.just({})
    many = op in ("in", "not_in", "has_any", "has_all")
    value: st.SearchStrategy[Any]
    if kind == "bool":
        value = st.booleans()
    elif kind in ("text", "address_list"):
        if op == "matches_regex":
            value = patterns()
        elif op in CHANGE_OPS:
            value = st.sampled_from(CHANGE_TEXTS[:-1]).map(str.swapcase) | needles()
        else:
            value = needles()
    elif kind == "enum":
        value = st.sampled_from(list(spec.values or SLA_LEVELS))
    elif kind in ("uuid", "uuid_list"):
        value = st.sampled_from(_pool(spec))
    elif kind == "number":
        value = st.sampled_from([-1, 0, 0.1, 1.5, 3, 10, 10**9])
    elif kind == "tags":
        value = st.sampled_from(TAGS)
    else:
        assert kind == "date"
        if op in ("older_than", "within_last"):
            return st.builds(
                lambda count, unit: {"value": count, "unit": unit},
                st.sampled_from([1, 2, 24, 48, 59, 3, 10, 90]),
                st.sampled_from(["minutes", "hours", "days"]),
            )
        if spec.custom is not None:
            value = calendar_dates
        else:
            value = instants().map(lambda i: i.isoformat()) | instants().map(
                lambda i: i.date().isoformat()
            )
    if many:
        value = st.lists(value, min_size=1, max_size=3)
    return value.map(lambda v: {"value": v})


CHANGE_FIELDS = sorted(
    [name for name, spec in FIELDS.items() if spec.change_key is not None]
    + [f"custom_fields.{f.key}" for f in CUSTOM_FIELDS]
)
EVERY_FIELD_AND_OPERATOR = [
    (field, op)
    for field in [*FIELDS, *(f"custom_fields.{f.key}" for f in CUSTOM_FIELDS)]
    for op in _spec(field).operators
]


def _change_key(field: str) -> str:
    key = _spec(field).change_key
    assert key is not None
    return key


@st.composite
def changed_conditions(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(CHANGE_FIELDS))
    op = draw(st.sampled_from([op for op in _spec(field).operators if op in CHANGE_OPS]))
    return {"field": field, "op": op, **draw(condition_values(field, op))}


@st.composite
def changes_for(draw: st.DrawFn, fields: list[str]) -> dict[str, Change] | None:
    """The triggering event's changes: some of these fields moved (or stayed, or were left
    out); None for a time rule (no event)."""
    if draw(st.integers(0, 9)) == 0:
        return None
    changes: dict[str, Change] = {}
    for field in fields:
        if draw(st.integers(0, 4)) == 0:
            continue
        values = _change_values(field)
        before = draw(values)
        after = before if draw(st.integers(0, 5)) == 0 else draw(values)
        changes[_change_key(field)] = Change(before=before, after=after)
    return changes


@st.composite
def mixed_condition_sets(draw: st.DrawFn) -> dict[str, Any]:
    one = conditions(DIRECTORY) | changed_conditions()
    groups = draw(st.lists(st.lists(one, min_size=1, max_size=3), max_size=3))
    return {"any": [{"all": group} for group in groups]}


def check_agreement(
    condition_set: dict[str, Any], tickets: list[TicketSnapshot], changes: Changes | None
) -> list[str]:
    """Assert the trace agrees with the predicates; return what was seen (for statistics)."""
    seen: list[str] = []
    compiled = compile_python(condition_set, custom_fields=CUSTOM_FIELDS)
    alone = [
        [compile_python({"any": [{"all": [c]}]}, custom_fields=CUSTOM_FIELDS) for c in g["all"]]
        for g in condition_set["any"]
    ]
    rule_set = compile_rule_set([condition_set], custom_fields=CUSTOM_FIELDS)
    for ticket in tickets:
        matched = compiled.matches(ticket, changes, NOW)
        trace = compiled.explain(ticket, changes, NOW)
        assert trace.matched == matched, trace.as_dict()
        assert (rule_set.matching(ticket, changes, NOW) == [0]) == matched
        assert trace.matches_everything == (not condition_set["any"])
        for group, singles in zip(trace.groups, alone, strict=True):
            assert group.matched == all(c.passed for c in group.conditions)
            for condition, single in zip(group.conditions, singles, strict=True):
                assert condition.passed == single.matches(ticket, changes, NOW), condition.as_dict()
                seen.append(f"{condition.field} {condition.op}: {condition.passed}")
        seen.append(f"matched: {matched}")
    return seen


@PROPERTY
@given(
    condition_set=mixed_condition_sets(),
    tickets=st.lists(snapshots, min_size=1, max_size=5),
    data=st.data(),
)
def test_explain_agrees_with_matches(
    condition_set: dict[str, Any], tickets: list[TicketSnapshot], data: st.DataObject
) -> None:
    fields = [c["field"] for g in condition_set["any"] for c in g["all"]]
    changes = data.draw(changes_for([f for f in fields if f in CHANGE_FIELDS]), label="changes")
    for seen in check_agreement(condition_set, tickets, changes):
        event(seen)


# No shrinking: an example holds a condition for every operator, so shrinking one takes
# minutes, and the failure message already names the condition and the ticket.
@settings(PROPERTY, max_examples=40, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(tickets=st.lists(snapshots, min_size=4, max_size=8), data=st.data())
def test_every_field_and_operator_explains_as_it_matches(
    tickets: list[TicketSnapshot], data: st.DataObject
) -> None:
    """Every operator of every field (custom fields included), each alone, every example."""
    for field, op in EVERY_FIELD_AND_OPERATOR:
        condition = {"field": field, "op": op, **data.draw(condition_values(field, op))}
        changes = data.draw(changes_for([field])) if op in CHANGE_OPS else None
        for seen in check_agreement({"any": [{"all": [condition]}]}, tickets, changes):
            event(seen)


def ticket_row(customer_id: uuid.UUID | None) -> dict[str, Any]:
    ticket_id = uuid.uuid4()
    return {
        "id": ticket_id,
        "code": f"T-{ticket_id.hex[:12]}",
        "subject": "Printer on fire",
        "status": "open",
        "channel": "email",
        "priority": "low",
        "department_id": None,
        "agent_id": None,
        "customer_id": customer_id,
        "sla_level": None,
        "sla_due_at": None,
        "sla_late": False,
        "tags": [],
        "custom_fields": {},
        "referrer_url": None,
        "created_from_invitation": False,
        "created_at": NOW,
        "updated_at": NOW,
        "deleted_at": None,
        "status_changed_at": NOW,
        "first_customer_message_at": None,
        "last_customer_message_at": None,
        "first_agent_reply_at": None,
        "last_agent_reply_at": None,
        "last_message_at": None,
        "last_message_author": None,
        "last_message_id": None,
        "message_count": 0,
        "version": 1,
    }


def test_customer_group_membership_explains_as_it_matches() -> None:
    """A ticket whose customer is in groups 0 and 1 (the directory's first customer)."""
    member = snapshot_of(ticket_row(DIRECTORY.customers[0]), None)
    outsider = snapshot_of(ticket_row(DIRECTORY.customers[2]), None)
    anonymous = snapshot_of(ticket_row(None), None)
    groups = [str(g) for g in DIRECTORY.groups]
    cases = [
        ({"field": "customer_group", "op": "in", "value": [groups[0]]}, [True, False, False]),
        ({"field": "customer_group", "op": "in", "value": groups[1:]}, [True, False, False]),
        ({"field": "customer_group", "op": "in", "value": [groups[2]]}, [False, False, False]),
        ({"field": "customer_group", "op": "not_in", "value": [groups[0]]}, [False, True, True]),
        ({"field": "customer_group", "op": "is", "value": groups[1]}, [True, False, False]),
        ({"field": "customer_group", "op": "is_not", "value": groups[1]}, [False, True, True]),
        ({"field": "customer_group", "op": "is_set"}, [True, False, False]),
        ({"field": "customer_group", "op": "is_empty"}, [False, True, True]),
    ]
    for condition, expected in cases:
        compiled = compile_python({"any": [{"all": [condition]}]}, custom_fields=CUSTOM_FIELDS)
        tickets = [member, outsider, anonymous]
        assert [compiled.matches(t, None, NOW) for t in tickets] == expected, condition
        assert [compiled.explain(t, None, NOW).matched for t in tickets] == expected, condition
        check_agreement({"any": [{"all": [condition]}]}, tickets, None)
