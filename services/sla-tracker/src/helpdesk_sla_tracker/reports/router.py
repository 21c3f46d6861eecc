"""/v1/reports/compliance and /v1/reports/sla-log: JSON (``?format=json``, paginated with
``next_cursor``) or CSV (``?format=csv``, the same page). Both are single SQL statements
over the clocks; a period is ``from`` (inclusive) to ``to`` (exclusive) on the clock's start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from helpdesk_service.auth import AnyRole, Principal
from helpdesk_service.db import Session
from helpdesk_service.errors import Unprocessable
from helpdesk_service.pagination import decode_cursor, encode_cursor
from helpdesk_service.responses import JsonResponse
from pydantic import AwareDatetime
from sqlalchemy import text
from starlette.responses import Response

from .csv_text import csv_response

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Format = Literal["json", "csv"]
Order = Literal["asc", "desc"]
Limit = Annotated[int, Query(ge=1, le=10_000)]


def _outcome_measures(outcome: str) -> Iterator[tuple[str, str]]:
    """(column, SQL) for the clocks closed as ``outcome``: how many, and the business
    minutes they took."""
    only_outcome = f"FILTER (WHERE state = '{outcome}')"
    yield outcome, f"count(*) {only_outcome}"
    for aggregate in ("avg", "max", "min"):
        yield (
            f"{aggregate}_{outcome}_minutes",
            f"round({aggregate}(business_minutes) {only_outcome}::numeric, 2)",
        )


# The CSV header and the statement's columns both come from this one list.
_OUTCOME_MEASURES = [*_outcome_measures("achieved"), *_outcome_measures("missed")]
COMPLIANCE_COLUMNS = ("date", "department_id", "agent_id", *(name for name, _ in _OUTCOME_MEASURES))
_OUTCOME_SQL = ",\n       ".join(f"{sql} AS {name}" for name, sql in _OUTCOME_MEASURES)
# Sort keys and the columns they order by; the rest of the key keeps pages stable.
_COMPLIANCE_SORT = {
    "date": "period {order}, department_id, agent_id",
    "department": "department_id {order} NULLS LAST, period, agent_id",
    "agent": "agent_id {order} NULLS LAST, period, department_id",
}
_COMPLIANCE_SQL = f"""
SELECT to_char(period, 'YYYY-MM-DD') AS date, department_id, agent_id,
       {_OUTCOME_SQL}
FROM (
  SELECT date_trunc(:group_by, started_at AT TIME ZONE :zone) AS period,
         department_id, agent_id, state, business_minutes
  FROM sla.clock
  WHERE state IN ('achieved', 'missed') AND started_at >= :start AND started_at < :end
    AND (CAST(:department_id AS uuid) IS NULL OR department_id = CAST(:department_id AS uuid))
) AS closed
GROUP BY period, department_id, agent_id
ORDER BY {{order_by}}
LIMIT :limit OFFSET :offset
"""

SLA_LOG_COLUMNS = (
    "requester",
    "ticket_id",
    "ticket_code",
    "department_id",
    "agent_id",
    "level",
    "target",
    "state",
    "sla_start",
    "due_at",
    "closed_at",
    "remaining_minutes",
)
# Every key in the same direction, so the matching index is read forwards or backwards
# (ascending puts clocks without a department or agent last, descending first).
_SLA_LOG_SORT = {
    "date": "started_at {order}, id {order}",
    "department": "department_id {order}, started_at {order}, id {order}",
    "agent": "agent_id {order}, started_at {order}, id {order}",
}
# Remaining (positive) or overdue (negative) minutes: for a closed clock, the business
# minutes its target had left at the reply; for a running one, the minutes from now to its
# due instant; none while paused or stopped (no due instant).
_SLA_LOG_SQL = """
SELECT customer_email AS requester, ticket_id, ticket_code, department_id, agent_id,
       level_name AS level, kind AS target, state, started_at AS sla_start, due_at, closed_at,
       round(CASE
         WHEN closed_at IS NOT NULL AND business_minutes IS NOT NULL
           THEN target_minutes - business_minutes
         WHEN due_at IS NOT NULL AND closed_at IS NULL
           THEN extract(epoch FROM due_at - :now) / 60
       END::numeric, 2) AS remaining_minutes
FROM sla.clock
WHERE started_at >= :start AND started_at < :end
  AND (CAST(:department_id AS uuid) IS NULL OR department_id = CAST(:department_id AS uuid))
ORDER BY {order_by}
LIMIT :limit OFFSET :offset
"""


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    [offset] = decode_cursor(cursor, 1)
    if not offset.isdigit():
        raise Unprocessable("cursor: not a cursor this endpoint returned", code="invalid_cursor")
    return int(offset)


def _check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise Unprocessable(
            "to: must be after from",
            details=[{"field": "to", "message": "must be after from", "type": "value_error"}],
        )


def _plain(value: Any) -> Any:
    """Values as JSON and CSV show them (numeric → float, UUIDs → text)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


async def _page(
    session: Session,
    sql: str,
    params: dict[str, Any],
    limit: int,
    offset: int,
) -> tuple[list[list[Any]], str | None]:
    # JIT compilation costs more than it saves on these statements (measured: 60 ms of a
    # year's compliance report).
    await session.execute(text("SET LOCAL jit = off"))
    rows = (
        await session.execute(text(sql), {**params, "limit": limit + 1, "offset": offset})
    ).all()
    next_cursor = encode_cursor(offset + limit) if len(rows) > limit else None
    return [[_plain(value) for value in row] for row in rows[:limit]], next_cursor


def _answer(
    name: str,
    columns: tuple[str, ...],
    rows: list[list[Any]],
    next_cursor: str | None,
    output: Format,
) -> Response:
    if output == "csv":
        response = csv_response(f"{name}.csv", columns, rows)
        if next_cursor:
            response.headers["X-Next-Cursor"] = next_cursor
        return response
    items = [
        {
            column: value.isoformat() if isinstance(value, datetime) else value
            for column, value in zip(columns, row, strict=True)
        }
        for row in rows
    ]
    return JsonResponse({"items": items, "next_cursor": next_cursor})


@dataclass(frozen=True)
class ReportPage:
    """The query parameters both reports end with: which page, in which order, as what."""

    sort: Literal["date", "department", "agent"] = "date"
    order: Order = "asc"
    output: Annotated[Format, Query(alias="format")] = "json"
    limit: Limit = 1000
    cursor: str | None = None

    async def answer(
        self,
        session: Session,
        report: str,
        columns: tuple[str, ...],
        sql: str,
        sort_keys: dict[str, str],
        params: dict[str, Any],
    ) -> Response:
        """Run the report's ``sql`` ordered by the chosen sort key and answer this page."""
        ordered = sql.format(order_by=sort_keys[self.sort].format(order=self.order))
        rows, next_cursor = await _page(session, ordered, params, self.limit, _offset(self.cursor))
        return _answer(report, columns, rows, next_cursor, self.output)


# The reports' own parameters come first in their documents: FastAPI lists an endpoint's
# parameters before its dependencies'.
Page = Annotated[ReportPage, Depends()]


@router.get("/compliance")
async def compliance_report(
    session: Session,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    department_id: uuid.UUID | None = None,
    group_by: Literal["day", "week", "month"] = "day",
    time_zone: Annotated[str, Query(max_length=100)] = "UTC",
    *,
    page: Page,
    _: Principal = AnyRole,
) -> Response:
    """Per period (in ``time_zone``), department and agent: clocks achieved and missed, with
    the average, longest and shortest business minutes to the reply. Clocks count in the
    period they started in; open ones are in the SLA log."""
    _check_period(start, end)
    if not await session.scalar(
        text("SELECT EXISTS (SELECT FROM pg_timezone_names WHERE name = :zone)"),
        {"zone": time_zone},
    ):
        raise Unprocessable(
            f"time_zone: {time_zone!r} is not an IANA time zone",
            details=[{"field": "time_zone", "message": "unknown time zone", "type": "value_error"}],
        )
    params = {
        "group_by": group_by,
        "zone": time_zone,
        "start": start,
        "end": end,
        "department_id": department_id,
    }
    return await page.answer(
        session, "sla-compliance", COMPLIANCE_COLUMNS, _COMPLIANCE_SQL, _COMPLIANCE_SORT, params
    )


@router.get("/sla-log")
async def sla_log(
    request: Request,
    session: Session,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    department_id: uuid.UUID | None = None,
    *,
    page: Page,
    _: Principal = AnyRole,
) -> Response:
    """Every clock that started in the period: requester, ticket, department, agent, level,
    start, due instant, close, and the time remaining (positive) or overdue (negative)."""
    _check_period(start, end)
    params = {
        "start": start,
        "end": end,
        "department_id": department_id,
        "now": request.app.state.clock.now(),
    }
    return await page.answer(
        session, "sla-log", SLA_LOG_COLUMNS, _SLA_LOG_SQL, _SLA_LOG_SORT, params
    )
