"""Property tests: the Python predicate and the SQL clause select exactly the same tickets.

Tickets are generated as ticket-api's rows, inserted into a real (freshly migrated)
PostgreSQL in a transaction that is rolled back after each example; their snapshots are
built by ticket-api's own snapshot code, as the rule engine receives them in events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from helpdesk_conditions import (
    compile_python,
    compile_rule_set,
    compile_sql,
    fold,
    parse_regex,
    sql_fold,
)
from helpdesk_ticket_api.models import Message, Ticket
from helpdesk_ticket_api.tickets.snapshot import load_context, ticket_snapshot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Text, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from .conftest import CUSTOM_FIELDS, NOW, TABLES, Directory
from .strategies import condition_sets, conditions, patterns, texts, ticket_rows

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _insert(conn: AsyncConnection, rows: list[tuple[dict[str, Any], Any]]) -> None:
    await conn.execute(insert(Ticket), [t for t, _ in rows])
    messages = [m for _, m in rows if m is not None]
    if messages:
        await conn.execute(insert(Message), messages)


async def _snapshots(conn: AsyncConnection, ids: list[Any]) -> list[Any]:
    session = AsyncSession(bind=conn)
    tickets = (await session.execute(select(Ticket).where(Ticket.id.in_(ids)))).scalars()
    return [ticket_snapshot(t, await load_context(session, t)) for t in tickets]


@asynccontextmanager
async def _inserted(
    engine: AsyncEngine, rows: list[tuple[dict[str, Any], Any]]
) -> AsyncIterator[tuple[AsyncConnection, list[Any], list[Any]]]:
    """The generated rows inserted in a transaction rolled back afterwards: the connection
    that sees them, their snapshots and their ids."""
    ids = [t["id"] for t, _ in rows]
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await _insert(conn, rows)
            yield conn, await _snapshots(conn, ids), ids
        finally:
            await transaction.rollback()


async def _sql_ids(conn: AsyncConnection, conditions: Any, ids: list[Any]) -> set[Any]:
    clause = compile_sql(conditions, TABLES, now=NOW, custom_fields=CUSTOM_FIELDS)
    query = select(Ticket.id).where(Ticket.id.in_(ids), clause)
    return set((await conn.execute(query)).scalars())


def _python_ids(conditions: Any, snapshots: list[Any]) -> set[Any]:
    predicate = compile_python(conditions, custom_fields=CUSTOM_FIELDS)
    matched = {s.id for s in snapshots if predicate.matches(s, None, NOW)}
    # The trace (every condition, no short-circuit) agrees with the short-circuiting predicate.
    assert {s.id for s in snapshots if predicate.explain(s, None, NOW).matched} == matched
    event(
        "matched "
        + ("none" if not matched else "all" if len(matched) == len(snapshots) else "some")
    )
    return matched


def _disagreement(conditions: Any, snapshots: list[Any], python: set[Any], sql: set[Any]) -> str:
    differing = [s for s in snapshots if (s.id in python) != (s.id in sql)]
    trace = compile_python(conditions, custom_fields=CUSTOM_FIELDS).explain(differing[0], None, NOW)
    return (
        f"python {len(python)} vs sql {len(sql)}; first differing ticket "
        f"(python says {differing[0].id in python}): {trace.as_dict()}"
    )


@PROPERTY
@given(data=st.data())
async def test_python_and_sql_select_the_same_tickets(
    engine: AsyncEngine, directory: Directory, data: st.DataObject
) -> None:
    rows = data.draw(st.lists(ticket_rows(directory), min_size=3, max_size=8), label="tickets")
    condition_set = data.draw(condition_sets(directory), label="conditions")
    async with _inserted(engine, rows) as (conn, snapshots, ids):
        python = _python_ids(condition_set, snapshots)
        sql = await _sql_ids(conn, condition_set, ids)
    assert python == sql, _disagreement(condition_set, snapshots, python, sql)


@settings(PROPERTY, max_examples=8)
@given(data=st.data())
async def test_many_conditions_agree_on_a_batch_of_tickets(
    engine: AsyncEngine, directory: Directory, data: st.DataObject
) -> None:
    """Each condition against 25 tickets at once: many more (ticket, condition) pairs."""
    rows = data.draw(st.lists(ticket_rows(directory), min_size=25, max_size=25), label="tickets")
    async with _inserted(engine, rows) as (conn, snapshots, ids):
        condition_sets = []
        for _ in range(30):
            condition = data.draw(conditions(directory), label="condition")
            condition_set = {"any": [{"all": [condition]}]}
            python = _python_ids(condition_set, snapshots)
            sql = await _sql_ids(conn, condition_set, ids)
            assert python == sql, _disagreement(condition_set, snapshots, python, sql)
            condition_sets.append(condition_set)
        # The same sets as one rule set, with groups mixing them (shared conditions).
        condition_sets += [
            {"any": [{"all": a["any"][0]["all"] + b["any"][0]["all"]}, c["any"][0]]}
            for a, b, c in zip(condition_sets, condition_sets[1:], condition_sets[2:], strict=False)
        ]
        rule_set = compile_rule_set(condition_sets, custom_fields=CUSTOM_FIELDS)
        for snapshot in snapshots:
            one_by_one = [i for i, r in enumerate(rule_set.rules) if r.matches(snapshot, None, NOW)]
            assert rule_set.matching(snapshot, None, NOW) == one_by_one


@settings(PROPERTY, max_examples=200)
@given(pattern=patterns(), subjects=st.lists(texts(), min_size=1, max_size=8))
async def test_regex_subset_matches_the_same_in_re2_and_postgresql(
    engine: AsyncEngine, pattern: str, subjects: list[str]
) -> None:
    regex = parse_regex(pattern)
    compiled = regex.compile()
    python = [compiled.search(s) is not None for s in subjects]
    event(f"regex matched {'some' if any(python) else 'none'}")
    subject = func.unnest(literal(subjects, ARRAY(Text))).table_valued("s").render_derived()
    query = select(subject.c.s.collate("C").bool_op("~")(literal(regex.canonical, Text)))
    async with engine.connect() as conn:
        sql = list((await conn.execute(query)).scalars())
    assert python == sql, (regex.canonical, list(zip(subjects, python, sql, strict=True)))


@settings(PROPERTY, max_examples=100)
@given(samples=st.lists(texts(), min_size=1, max_size=10))
async def test_case_folding_is_the_same_in_python_and_postgresql(
    engine: AsyncEngine, samples: list[str]
) -> None:
    value = func.unnest(literal(samples, ARRAY(Text))).table_valued("v").render_derived()
    query = select(sql_fold(value.c.v))
    async with engine.connect() as conn:
        folded = list((await conn.execute(query)).scalars())
    assert folded == [fold(s) for s in samples]


async def test_case_folding_agrees_on_every_code_point(engine: AsyncEngine) -> None:
    """Each character folds the same in Python and in PostgreSQL's ICU, whatever the
    cluster's locale (the test cluster is C)."""
    series = func.generate_series(1, 0x10FFFF).table_valued("i").render_derived()
    code_point = series.c.i
    query = select(code_point, sql_fold(func.chr(code_point)))
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.current_setting("lc_ctype"))) == "C"
        rows = (
            await conn.execute(query.where((code_point < 0xD800) | (code_point > 0xDFFF)))
        ).all()
    differing = [(hex(i), folded, fold(chr(i))) for i, folded in rows if folded != fold(chr(i))]
    assert len(rows) == 0x10FFFF - 2048
    assert differing == []
