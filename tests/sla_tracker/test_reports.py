"""The compliance report and the SLA log against hand-computed figures, as JSON and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

DEPT_A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
DEPT_B = uuid.UUID("00000000-0000-0000-0000-00000000000b")
AGENT_X = uuid.UUID("00000000-0000-0000-0000-0000000000f1")
AGENT_Y = uuid.UUID("00000000-0000-0000-0000-0000000000f2")
NOW = datetime(2026, 12, 10, 12, tzinfo=UTC)


def at(day: int, hour: int = 10) -> datetime:
    return (
        datetime(2026, 12, day, hour, tzinfo=UTC)
        if day > 0
        else datetime(2026, 11, 30 + day, hour, tzinfo=UTC)
    )


CLOCKS: list[dict[str, Any]] = [
    # Department A, agent X, 1 December: achieved in 30 and 90, missed in 300.
    {
        "department_id": DEPT_A,
        "agent_id": AGENT_X,
        "started_at": at(1),
        "state": "achieved",
        "business_minutes": 30,
    },
    {
        "department_id": DEPT_A,
        "agent_id": AGENT_X,
        "started_at": at(1, 11),
        "state": "achieved",
        "business_minutes": 90,
    },
    {
        "department_id": DEPT_A,
        "agent_id": AGENT_X,
        "started_at": at(1, 12),
        "state": "missed",
        "business_minutes": 300,
    },
    # Department A, agent Y, 2 December: missed in 250 and 350.
    {
        "department_id": DEPT_A,
        "agent_id": AGENT_Y,
        "started_at": at(2),
        "state": "missed",
        "business_minutes": 250,
    },
    {
        "department_id": DEPT_A,
        "agent_id": AGENT_Y,
        "started_at": at(2, 11),
        "state": "missed",
        "business_minutes": 350,
    },
    # Department B, agent X, 8 December: achieved in 10.
    {
        "department_id": DEPT_B,
        "agent_id": AGENT_X,
        "started_at": at(8),
        "state": "achieved",
        "business_minutes": 10,
    },
    # Still running on 9 December, due in an hour: only in the log.
    {
        "department_id": DEPT_B,
        "agent_id": AGENT_Y,
        "started_at": at(9),
        "state": "running",
        "business_minutes": None,
        "due_at": NOW + timedelta(hours=1),
    },
    # Before the period.
    {
        "department_id": DEPT_A,
        "agent_id": AGENT_X,
        "started_at": at(0),
        "state": "achieved",
        "business_minutes": 5,
    },
]


@pytest.fixture
async def clocks(database_url: str, clock: ManualClock) -> None:
    clock.set(NOW)
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for number, row in enumerate(CLOCKS):
                closed = row["state"] in ("achieved", "missed")
                await conn.execute(
                    text(
                        "INSERT INTO sla.clock (id, ticket_id, ticket_code, kind, level_name, level_version, "
                        "target_minutes, department_id, agent_id, customer_email, started_at, pauses, state, "
                        "due_at, closed_at, business_minutes, late, history, updated_at) VALUES "
                        "(:id, :ticket_id, :code, 'first_response', 'gold', 1, 240, :department_id, :agent_id, "
                        ":email, :started_at, '[]', :state, :due_at, :closed_at, :business_minutes, :late, '[]', :now)"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "ticket_id": uuid.uuid4(),
                        "code": f"T-{number}",
                        "email": '=HYPERLINK("x"), "quoted"'
                        if number == 0
                        else f"c{number}@example.com",
                        "due_at": row.get("due_at", row["started_at"] + timedelta(hours=4)),
                        "closed_at": row["started_at"] + timedelta(minutes=row["business_minutes"])
                        if closed
                        else None,
                        "late": row["state"] == "missed",
                        "now": NOW,
                        **{
                            key: row[key]
                            for key in (
                                "department_id",
                                "agent_id",
                                "started_at",
                                "state",
                                "business_minutes",
                            )
                        },
                    },
                )
    finally:
        await engine.dispose()


PERIOD = {"from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}


async def report(sla: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await sla.get(f"/v1/reports/{path}", params={**PERIOD, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_compliance_by_day(sla: httpx.AsyncClient, clocks: None) -> None:
    items = (await report(sla, "compliance"))["items"]
    assert [
        (
            i["date"],
            i["department_id"],
            i["agent_id"],
            i["achieved"],
            i["avg_achieved_minutes"],
            i["max_achieved_minutes"],
            i["min_achieved_minutes"],
            i["missed"],
            i["avg_missed_minutes"],
            i["max_missed_minutes"],
            i["min_missed_minutes"],
        )
        for i in items
    ] == [
        ("2026-12-01", str(DEPT_A), str(AGENT_X), 2, 60.0, 90.0, 30.0, 1, 300.0, 300.0, 300.0),
        ("2026-12-02", str(DEPT_A), str(AGENT_Y), 0, None, None, None, 2, 300.0, 350.0, 250.0),
        ("2026-12-08", str(DEPT_B), str(AGENT_X), 1, 10.0, 10.0, 10.0, 0, None, None, None),
    ]


async def test_compliance_by_week_and_month_filtered_and_sorted(
    sla: httpx.AsyncClient, clocks: None
) -> None:
    weeks = (await report(sla, "compliance", group_by="week", sort="department"))["items"]
    assert [
        (i["date"], i["department_id"], i["agent_id"], i["achieved"], i["missed"]) for i in weeks
    ] == [
        ("2026-11-30", str(DEPT_A), str(AGENT_X), 2, 1),
        ("2026-11-30", str(DEPT_A), str(AGENT_Y), 0, 2),
        ("2026-12-07", str(DEPT_B), str(AGENT_X), 1, 0),
    ]
    months = (await report(sla, "compliance", group_by="month", sort="agent", order="desc"))[
        "items"
    ]
    assert [(i["date"], i["agent_id"], i["department_id"]) for i in months] == [
        ("2026-12-01", str(AGENT_Y), str(DEPT_A)),
        ("2026-12-01", str(AGENT_X), str(DEPT_A)),
        ("2026-12-01", str(AGENT_X), str(DEPT_B)),
    ]
    only_b = (await report(sla, "compliance", department_id=str(DEPT_B)))["items"]
    assert [(i["date"], i["achieved"]) for i in only_b] == [("2026-12-08", 1)]
    # In Pago Pago (UTC-11), 1 December 10:00 UTC is still 30 November.
    samoa = (await report(sla, "compliance", time_zone="Pacific/Pago_Pago"))["items"]
    assert samoa[0]["date"] == "2026-11-30"


async def test_pages_follow_the_cursor(sla: httpx.AsyncClient, clocks: None) -> None:
    first = await report(sla, "compliance", limit=2)
    assert len(first["items"]) == 2
    second = await report(sla, "compliance", limit=2, cursor=first["next_cursor"])
    assert [i["date"] for i in second["items"]] == ["2026-12-08"]
    assert second["next_cursor"] is None
    bad = await sla.get("/v1/reports/compliance", params={**PERIOD, "cursor": "nonsense"})
    assert bad.status_code == 422


async def test_sla_log(sla: httpx.AsyncClient, clocks: None) -> None:
    items = (await report(sla, "sla-log"))["items"]
    assert [i["ticket_code"] for i in items] == [f"T-{n}" for n in range(7)]
    first = items[0]
    assert first["requester"] == '=HYPERLINK("x"), "quoted"'
    assert (first["level"], first["target"], first["state"]) == (
        "gold",
        "first_response",
        "achieved",
    )
    assert first["remaining_minutes"] == 240 - 30
    assert items[2]["remaining_minutes"] == 240 - 300  # overdue by an hour
    assert items[6]["remaining_minutes"] == 60.0  # running, due in an hour from now
    assert items[6]["closed_at"] is None
    by_agent = (await report(sla, "sla-log", sort="agent", department_id=str(DEPT_B)))["items"]
    assert [i["agent_id"] for i in by_agent] == [str(AGENT_X), str(AGENT_Y)]


async def test_csv_opens_in_a_spreadsheet(sla: httpx.AsyncClient, clocks: None) -> None:
    response = await sla.get("/v1/reports/sla-log", params={**PERIOD, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="sla-log.csv"' in response.headers["content-disposition"]
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeffrequester,ticket_id,ticket_code,")
    assert body.count("\r\n") == 8  # header and seven clocks
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[1][0] == '\'=HYPERLINK("x"), "quoted"'  # a formula made text, quotes kept
    assert rows[1][2] == "T-0"
    compliance = await sla.get("/v1/reports/compliance", params={**PERIOD, "format": "csv"})
    lines = compliance.content.decode("utf-8").removeprefix("\ufeff").split("\r\n")
    assert lines[0] == (
        "date,department_id,agent_id,achieved,avg_achieved_minutes,max_achieved_minutes,"
        "min_achieved_minutes,missed,avg_missed_minutes,max_missed_minutes,min_missed_minutes"
    )
    assert lines[1] == f"2026-12-01,{DEPT_A},{AGENT_X},2,60.0,90.0,30.0,1,300.0,300.0,300.0"


async def test_bad_report_requests_are_refused(sla: httpx.AsyncClient) -> None:
    backwards = await sla.get(
        "/v1/reports/sla-log", params={"from": PERIOD["to"], "to": PERIOD["from"]}
    )
    assert backwards.status_code == 422
    zone = await sla.get("/v1/reports/compliance", params={**PERIOD, "time_zone": "Mars/Olympus"})
    assert zone.json()["error"]["details"][0]["field"] == "time_zone"
    naive = await sla.get(
        "/v1/reports/sla-log", params={"from": "2026-12-01T00:00:00", "to": PERIOD["to"]}
    )
    assert naive.status_code == 422
    group = await sla.get("/v1/reports/compliance", params={**PERIOD, "group_by": "year"})
    assert group.status_code == 422
