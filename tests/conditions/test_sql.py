"""The SQL clause on a real database: chosen tickets, each compiler checked against the
expected answer (not only against the other), errors, and the indexes searches rely on."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from helpdesk_conditions import ConditionError, compile_python, compile_sql
from helpdesk_ticket_api.models import Message, Ticket
from helpdesk_ticket_api.tickets.snapshot import load_context, ticket_snapshot
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from .conftest import CUSTOM_FIELDS, NOW, TABLES, Directory, create_directory


def _ticket(name: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "code": f"T-{name}",
        "subject": name,
        "status": "open",
        "channel": "email",
        "priority": "medium",
        "tags": [],
        "custom_fields": {},
        "created_at": NOW - timedelta(days=5),
        "updated_at": NOW - timedelta(days=1),
        "status_changed_at": NOW - timedelta(days=1),
        "version": 1,
    }
    # One executemany needs the same keys in every row.
    optional = ["department_id", "agent_id", "customer_id", "sla_level", "referrer_url"]
    optional += ["deleted_at", "last_customer_message_at", "last_agent_reply_at"]
    optional += ["last_message_id", "last_message_author"]
    return {**row, **dict.fromkeys(optional), "created_from_invitation": False, **fields}


def _message(ticket: dict[str, Any], **fields: Any) -> dict[str, Any]:
    message = {
        "id": uuid.uuid4(),
        "ticket_id": ticket["id"],
        "author_kind": "customer",
        "from_address": None,
        "to": [],
        "body": "",
        "created_at": NOW,
        **fields,
    }
    ticket["last_message_id"] = message["id"]
    ticket["last_message_author"] = message["author_kind"]
    return message


@pytest.fixture(scope="module")
async def directory(module_engine: AsyncEngine) -> Directory:
    return await create_directory(module_engine)


@pytest.fixture(scope="module")
async def fleet(module_engine: AsyncEngine, directory: Directory) -> dict[str, uuid.UUID]:
    """Four tickets, by name, in a database the module's tests only read."""
    d = directory
    strasse = _ticket(
        "Ärger mit der Straße",
        tags=["vip"],
        channel="chat",
        agent_id=d.agents[0],  # chat: away
        customer_id=d.customers[0],  # groups 0 and 1
        custom_fields={"score": 3, "vip": True, "due": "2026-01-02", "plan": "pro"},
        last_customer_message_at=NOW - timedelta(hours=48),
    )
    istanbul = _ticket(
        "İSTANBUL office",
        status="answered",
        channel="facebook",
        agent_id=d.agents[1],  # social: away
        customer_id=d.customers[1],  # group 1
        last_agent_reply_at=NOW - timedelta(days=10),
        custom_fields={"vip": False, "note": "Call BACK"},
    )
    sigma = _ticket(
        "ΟΔΥΣΣΕΥΣ",
        status="new",
        agent_id=d.agents[2],  # no availability at all: offline
        referrer_url="https://x.io/?q=50%",
    )
    plain = _ticket(
        "Printer on fire",
        status="resolved",
        channel="call",
        created_from_invitation=True,
        deleted_at=NOW - timedelta(days=1),
        sla_level="gold",
    )
    messages = [
        _message(
            strasse,
            from_address="Cleo@Example.com",
            to=["Support@Acme.io"],
            body="100% kaputt",
        ),
        _message(istanbul, author_kind="agent", body="Done."),
        _message(sigma, body="a_b"),
    ]
    async with module_engine.begin() as conn:
        await conn.execute(insert(Ticket), [strasse, istanbul, sigma, plain])
        await conn.execute(insert(Message), messages)
    return {"strasse": strasse["id"], "istanbul": istanbul["id"], "sigma": sigma["id"]} | {
        "plain": plain["id"]
    }


async def _both(engine: AsyncEngine, conditions: dict[str, Any], now: datetime = NOW) -> Any:
    async with AsyncSession(engine) as session:
        tickets = list((await session.execute(select(Ticket))).scalars())
        snapshots = [ticket_snapshot(t, await load_context(session, t)) for t in tickets]
        clause = compile_sql(conditions, TABLES, now=now, custom_fields=CUSTOM_FIELDS)
        sql = set((await session.execute(select(Ticket.id).where(clause))).scalars())
    predicate = compile_python(conditions, custom_fields=CUSTOM_FIELDS)
    python = {s.id for s in snapshots if predicate.matches(s, None, now)}
    return python, sql


def c(field: str, op: str, value: Any = None, unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        out["value"] = value
    if unit:
        out["unit"] = unit
    return out


ALL = {"strasse", "istanbul", "sigma", "plain"}

CASES: list[tuple[dict[str, Any], set[str]]] = [
    (c("subject", "contains", "STRAßE"), {"strasse"}),
    (c("subject", "contains", "strasse"), set()),
    (c("subject", "contains", "ärger"), {"strasse"}),
    (c("subject", "matches_regex", "^[ÄÖÜ]"), {"strasse"}),
    (c("subject", "contains", "i̇stanbul"), {"istanbul"}),
    (c("subject", "starts_with", "İs"), {"istanbul"}),
    (c("subject", "is", "οδυσσευσ"), {"sigma"}),
    (c("subject", "ends_with", "Σ"), {"sigma"}),
    (c("body", "contains", "0%"), {"strasse"}),
    (c("body", "contains", "a_b"), {"sigma"}),
    (c("body", "contains", "a%"), set()),
    (c("body", "not_contains", "kaputt"), ALL - {"strasse"}),
    (c("from", "ends_with", "@example.COM"), {"strasse"}),
    (c("from", "is_empty"), ALL - {"strasse"}),
    (c("to", "contains", "support@acme"), {"strasse"}),
    (c("to", "is_empty"), ALL - {"strasse"}),
    (c("last_message_author", "is", "agent"), {"istanbul"}),
    (c("agent_status", "is", "away"), {"strasse", "istanbul"}),
    (c("agent_status", "is", "offline"), {"sigma"}),
    (c("agent_status", "is_empty"), {"plain"}),
    (c("customer_group", "is", "group:1"), {"strasse", "istanbul"}),
    (c("customer_group", "in", ["group:0", "group:2"]), {"strasse"}),
    (c("customer_group", "is_empty"), {"sigma", "plain"}),
    (c("custom_fields.vip", "is_true"), {"strasse"}),
    (c("custom_fields.vip", "is_false"), ALL - {"strasse"}),
    (c("custom_fields.vip", "is_set"), {"strasse", "istanbul"}),
    (c("custom_fields.score", "gte", 3), {"strasse"}),
    (c("custom_fields.score", "ne", 3), ALL - {"strasse"}),
    (c("custom_fields.note", "is", "call back"), {"istanbul"}),
    (c("custom_fields.plan", "in", ["pro"]), {"strasse"}),
    (c("custom_fields.due", "older_than", 3, "days"), {"strasse"}),
    (c("last_customer_message_at", "older_than", 48, "hours"), set()),
    (c("last_customer_message_at", "within_last", 2, "days"), {"strasse"}),
    (c("last_agent_reply_at", "older_than", 9, "days"), {"istanbul"}),
    (c("created_at", "before", "2025-12-31"), set()),
    (c("created_at", "after", "2025-12-31T00:00:00+00:00"), ALL),
    (c("deleted", "is_true"), {"plain"}),
    (c("created_from_invitation", "is_true"), {"plain"}),
    (c("sla_level", "is_not", "gold"), ALL - {"plain"}),
    (c("referrer_url", "contains", "50%"), {"sigma"}),
    (c("referrer_url", "is_empty"), ALL - {"sigma"}),
    (c("tags", "has_tag", "vip"), {"strasse"}),
    (c("tags", "lacks_tag", "vip"), ALL - {"strasse"}),
    (c("status", "in", ["new", "answered"]), {"istanbul", "sigma"}),
    (c("channel", "is_not", "email"), {"strasse", "istanbul", "plain"}),
]


def _resolve(value: Any, directory: Directory) -> Any:
    if isinstance(value, list):
        return [_resolve(v, directory) for v in value]
    if isinstance(value, str) and value.startswith("group:"):
        return str(directory.groups[int(value.split(":")[1])])
    return value


@pytest.mark.parametrize(("condition", "expected"), CASES)
async def test_both_compilers_find_the_expected_tickets(
    module_engine: AsyncEngine,
    directory: Directory,
    fleet: dict[str, uuid.UUID],
    condition: dict[str, Any],
    expected: set[str],
) -> None:
    condition = {**condition}
    if "value" in condition:
        condition["value"] = _resolve(condition["value"], directory)
    python, sql = await _both(module_engine, {"any": [{"all": [condition]}]})
    names = {name for name, id_ in fleet.items() if id_ in sql}
    assert names == expected
    assert python == sql


async def test_groups_combine_with_and_inside_and_or_across(
    module_engine: AsyncEngine, fleet: dict[str, uuid.UUID]
) -> None:
    conditions = {
        "any": [
            {"all": [c("status", "is", "open"), c("tags", "has_tag", "vip")]},
            {"all": [c("deleted", "is_true"), c("sla_level", "is", "gold")]},
            {"all": [c("status", "is", "new"), c("tags", "has_tag", "vip")]},
        ]
    }
    python, sql = await _both(module_engine, conditions)
    assert sql == python == {fleet["strasse"], fleet["plain"]}
    python, sql = await _both(module_engine, {"any": []})
    assert sql == python == set(fleet.values())


async def test_relative_times_follow_the_given_now(
    module_engine: AsyncEngine, fleet: dict[str, uuid.UUID]
) -> None:
    older = {"any": [{"all": [c("last_customer_message_at", "older_than", 48, "hours")]}]}
    python, sql = await _both(module_engine, older, now=NOW + timedelta(microseconds=1))
    assert sql == python == {fleet["strasse"]}


def test_changed_is_refused_with_a_pointer() -> None:
    conditions = {
        "any": [
            {"all": [c("status", "is", "open")]},
            {"all": [c("tags", "has_tag", "x"), c("status", "changed_to", "open")]},
        ]
    }
    with pytest.raises(ConditionError) as raised:
        compile_sql(conditions, TABLES, now=NOW)
    [issue] = raised.value.issues
    assert issue.pointer == "conditions.any[1].all[1].op"
    assert "changed_to tests the change that triggered a rule" in issue.message


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_sql({"any": []}, TABLES, now=datetime(2026, 1, 1))


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN " + str(compiler.process(element.statement, **kw))


async def _plan(engine: AsyncEngine, conditions: dict[str, Any]) -> str:
    clause = compile_sql(conditions, TABLES, now=NOW, custom_fields=CUSTOM_FIELDS)
    async with engine.begin() as conn:
        # On four rows a scan is cheapest: ask whether an index *can* serve the search.
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await conn.execute(Explain(select(Ticket.id).where(clause)))
        return "\n".join(r[0] for r in rows)


@pytest.mark.parametrize(
    ("condition", "index"),
    [
        (c("subject", "contains", "printer"), "ix_ticket_subject_folded_trgm"),
        (c("subject", "starts_with", "Ärger"), "ix_ticket_subject_folded_trgm"),
        (c("last_customer_message_at", "older_than", 48, "hours"), "ix_ticket_last_customer"),
        (c("status_changed_at", "within_last", 10, "days"), "ix_ticket_status_changed_at"),
        (c("custom_fields.vip", "is_true"), "ix_ticket_custom_fields"),
        (c("tags", "has_any", ["vip", "bug"]), "ix_ticket_tags"),
    ],
)
async def test_typical_searches_can_use_an_index(
    module_engine: AsyncEngine, condition: dict[str, Any], index: str
) -> None:
    assert index in await _plan(module_engine, {"any": [{"all": [condition]}]})
