"""Fixtures for scheduler tests: ticket-api and the sla-tracker in process, served over
loopback as the scheduler reaches them in production, and the scheduler's admin API (which
runs ticks for a given instant) on the same database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from helpdesk_events import ManualClock, Topics
from helpdesk_scheduler.config import Settings as SchedulerSettings
from helpdesk_scheduler.main import create_app as create_scheduler
from sqlalchemy import text

from tests.conftest import admin_api, running, service_settings
from tests.rule_engine.conftest import topics

__all__ = ["topics"]


def scheduler_settings(
    database_url: str, ticket_api_url: str, sla_tracker_url: str, topics: Topics
) -> SchedulerSettings:
    return service_settings(
        SchedulerSettings,
        database_url,
        ticket_api_url=ticket_api_url,
        sla_tracker_url=sla_tracker_url,
        topic_prefix=topics.prefix,
        db_pool_size=4,
        db_max_overflow=4,
    )


@pytest.fixture
async def scheduler_app(
    ticket_api_url: str,
    sla_tracker_url: str,
    database_url: str,
    clock: ManualClock,
    topics: Topics,
) -> AsyncIterator[Any]:
    settings = scheduler_settings(database_url, ticket_api_url, sla_tracker_url, topics)
    async with running(create_scheduler(settings, clock=clock)) as application:
        yield application


scheduler = admin_api(scheduler_app, "scheduler")


def cond(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"field": field, "op": op, **extra}
    if value is not None:
        c["value"] = value
    return c


def all_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"any": [{"all": list(conditions)}]}


async def make_time_rule(scheduler: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"time rule {uuid.uuid4().hex[:6]}")
    response = await scheduler.post("/v1/time-rules", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def tag_after_minutes(
    scheduler: httpx.AsyncClient, minutes: int, *, name: str, tag: str
) -> dict[str, Any]:
    """The only active rule: tag a ticket ``minutes`` after its creation."""
    rule = await make_time_rule(
        scheduler,
        name=name,
        conditions=all_of(cond("created_at", "older_than", minutes, unit="minutes")),
        actions=[{"type": "add_tags", "tags": [tag]}],
    )
    await only_rules(scheduler, rule)
    return rule


async def firings(scheduler_app: Any, rule: dict[str, Any]) -> list[Any]:
    """The rule's ledger rows: ticket_id (text), anchor, state, tick_at."""
    async with scheduler_app.state.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        "SELECT ticket_id::text AS ticket_id, anchor, state, tick_at "
                        "FROM scheduler.firing WHERE rule_id = :rule"
                    ),
                    {"rule": uuid.UUID(rule["id"])},
                )
            ).all()
        )


async def only_rules(scheduler: httpx.AsyncClient, *keep: dict[str, Any]) -> None:
    """Deactivate every other rule (the built-in spam rule among them)."""
    ids = {rule["id"] for rule in keep}
    for rule in (await scheduler.get("/v1/time-rules")).json()["items"]:
        if rule["id"] not in ids and rule["active"]:
            response = await scheduler.patch(f"/v1/time-rules/{rule['id']}", json={"active": False})
            assert response.status_code == 200, response.text


async def tick(scheduler: httpx.AsyncClient, at: datetime) -> dict[str, Any]:
    response = await scheduler.post("/v1/ticks", params={"at": at.isoformat()})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def preview(scheduler: httpx.AsyncClient, rule: dict[str, Any], at: datetime) -> list[str]:
    response = await scheduler.post(
        f"/v1/time-rules/{rule['id']}/preview", params={"at": at.isoformat()}
    )
    assert response.status_code == 200, response.text
    return [item["ticket_id"] for item in response.json()["items"]]


def fired(result: dict[str, Any], rule: dict[str, Any]) -> list[str]:
    for outcome in result["rules"]:
        if outcome["rule_id"] == rule["id"]:
            return sorted(outcome["fired"])
    return []


async def time_rule_history(client: httpx.AsyncClient, ticket_id: str) -> list[tuple[Any, ...]]:
    """(rule name, action, field, after) of the history entries time rules made."""
    items = (await client.get(f"/v1/tickets/{ticket_id}/history")).json()["items"]
    return [
        (h["actor"]["name"], h["action"], h["field"], h["after"])
        for h in items
        if h["actor"]["kind"] == "time_rule"
    ]
