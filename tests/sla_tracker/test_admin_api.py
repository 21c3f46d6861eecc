"""The admin API: calendars (validated, versioned, holiday import), levels (versioned) and
the default level per department (checked against ticket-api)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock

from tests.conftest import Api
from tests.sla_tracker.conftest import calendar_body


def fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {d["field"]: d["message"] for d in response.json()["error"]["details"]}


async def test_calendar_round_trip_and_versions(sla: httpx.AsyncClient, clock: ManualClock) -> None:
    body = calendar_body(
        hours={
            "monday": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
            "friday": [{"start": "22:00", "end": "06:00", "overnight": True}],
            "saturday": [{"start": "06:00", "end": "24:00"}],
        },
        holidays=[{"date": "2026-12-24", "name": "Christmas Eve"}],
        yearly_holidays=[{"month": 1, "day": 1, "name": "New Year"}],
    )
    created = await sla.post("/v1/calendars", json=body)
    assert created.status_code == 201, created.text
    calendar = created.json()
    assert calendar["version"] == 1
    assert calendar["hours"]["friday"] == [{"start": "22:00", "end": "06:00", "overnight": True}]

    clock.advance(timedelta(hours=1))
    replaced = await sla.put(f"/v1/calendars/{calendar['id']}", json=calendar_body())
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == 2
    assert replaced.json()["holidays"] == []

    first = await sla.get(f"/v1/calendars/{calendar['id']}", params={"version": 1})
    assert first.json()["holidays"] == [{"date": "2026-12-24", "name": "Christmas Eve"}]
    current = await sla.get(f"/v1/calendars/{calendar['id']}")
    assert current.json()["version"] == 2
    assert (
        await sla.get(f"/v1/calendars/{calendar['id']}", params={"version": 3})
    ).status_code == 404
    listed = (await sla.get("/v1/calendars")).json()["items"]
    assert [(c["id"], c["version"]) for c in listed] == [(calendar["id"], 2)]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (calendar_body(time_zone="Europe/Berln"), "time_zone", "not an IANA time zone"),
        (
            calendar_body(hours={"monday": [{"start": "17:00", "end": "09:00"}]}),
            "hours.monday[0].end",
            "overnight: true",
        ),
        (
            calendar_body(
                hours={
                    "tuesday": [
                        {"start": "09:00", "end": "13:00"},
                        {"start": "12:00", "end": "17:00"},
                    ]
                }
            ),
            "hours.tuesday[1]",
            "overlaps hours.tuesday[0] (09:00-13:00)",
        ),
        (
            calendar_body(
                hours={
                    "sunday": [{"start": "22:00", "end": "08:00", "overnight": True}],
                    "monday": [{"start": "07:00", "end": "17:00"}],
                }
            ),
            "hours.sunday[0]",
            "overlaps hours.monday[0]",
        ),
        (calendar_body(hours={}), "hours", "at least one opening interval"),
        (
            calendar_body(yearly_holidays=[{"month": 2, "day": 30}]),
            "yearly_holidays[0].day",
            "month 2 has no day 30",
        ),
        (
            calendar_body(hours={"monday": [{"start": "9:00", "end": "17:00"}]}),
            "hours.monday[0].start",
            "should match pattern",
        ),
    ],
)
async def test_bad_calendars_are_refused_naming_the_field(
    sla: httpx.AsyncClient, body: dict[str, Any], field: str, says: str
) -> None:
    response = await sla.post("/v1/calendars", json=body)
    problems = fields(response)
    assert field in problems, problems
    assert says in problems[field]
    assert (await sla.get("/v1/calendars")).json()["items"] == []


async def test_holiday_import_adds_a_version_and_keeps_existing_dates(
    sla: httpx.AsyncClient,
) -> None:
    calendar = (
        await sla.post(
            "/v1/calendars",
            json=calendar_body(holidays=[{"date": "2026-12-25", "name": "Our Christmas"}]),
        )
    ).json()
    imported = await sla.post(
        f"/v1/calendars/{calendar['id']}/holidays/import",
        json={"country": "de", "subdivision": "BY", "years": [2026]},
    )
    assert imported.status_code == 200, imported.text
    holidays = {h["date"]: h["name"] for h in imported.json()["holidays"]}
    assert imported.json()["version"] == 2
    assert holidays["2026-12-25"] == "Our Christmas"
    assert holidays["2026-01-06"] == "Epiphany"
    assert list(holidays) == sorted(holidays)

    unknown = await sla.post(
        f"/v1/calendars/{calendar['id']}/holidays/import", json={"country": "XX", "years": [2026]}
    )
    assert "no public holidays are known" in fields(unknown)["country"]
    missing = await sla.post(
        f"/v1/calendars/{uuid.uuid4()}/holidays/import", json={"country": "DE", "years": [2026]}
    )
    assert missing.status_code == 404


async def test_levels_are_versioned(sla: httpx.AsyncClient) -> None:
    calendar = (await sla.post("/v1/calendars", json=calendar_body())).json()
    created = await sla.put(
        "/v1/levels/pre-sales",
        json={"first_response_minutes": 240, "calendar_id": calendar["id"], "warning_minutes": 30},
    )
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert created.json()["exclude_holidays"] is True

    changed = await sla.put(
        "/v1/levels/pre-sales", json={"first_response_minutes": 120, "next_response_minutes": 480}
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    assert changed.json()["calendar_id"] is None
    first = (await sla.get("/v1/levels/pre-sales", params={"version": 1})).json()
    assert (first["first_response_minutes"], first["calendar_id"]) == (240, calendar["id"])
    listed = (await sla.get("/v1/levels")).json()["items"]
    assert [(level["name"], level["version"]) for level in listed] == [("pre-sales", 2)]
    assert (await sla.get("/v1/levels/nope")).status_code == 404


async def test_bad_levels_are_refused(sla: httpx.AsyncClient) -> None:
    no_target = await sla.put("/v1/levels/empty", json={"exclude_holidays": False})
    assert "at least one target" in no_target.json()["error"]["message"]
    assert no_target.status_code == 422
    missing_calendar = await sla.put(
        "/v1/levels/x", json={"first_response_minutes": 60, "calendar_id": str(uuid.uuid4())}
    )
    assert "does not exist" in fields(missing_calendar)["calendar_id"]
    negative = await sla.put("/v1/levels/x", json={"first_response_minutes": 0})
    assert "first_response_minutes" in fields(negative)
    assert (await sla.get("/v1/levels")).json()["items"] == []


async def test_department_default_level(sla: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    department = await Api(client).department("Pre-sales")
    await sla.put("/v1/levels/pre-sales", json={"first_response_minutes": 240})
    path = f"/v1/departments/{department['id']}/level"

    unknown_level = await sla.put(path, json={"level": "gold"})
    assert "'gold' does not exist" in fields(unknown_level)["level"]
    unknown_department = await sla.put(
        f"/v1/departments/{uuid.uuid4()}/level", json={"level": "pre-sales"}
    )
    assert unknown_department.status_code == 404

    assert (await sla.put(path, json={"level": "pre-sales"})).status_code == 200
    assert (await sla.get(path)).json()["level"] == "pre-sales"
    assert (await sla.delete(path)).status_code == 204
    assert (await sla.get(path)).status_code == 404


async def test_only_admins_change_and_anyone_known_reads(sla_app: Any) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sla_app), base_url="http://sla-tracker"
    ) as anonymous:
        assert (await anonymous.get("/v1/levels")).status_code == 401
        assert (await anonymous.post("/v1/calendars", json=calendar_body())).status_code == 401
