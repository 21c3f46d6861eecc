"""What every service gets from create_service_app: ops endpoints, the error format, the
body limit, auth through the service's authenticator, HTTP metrics by route template."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from helpdesk_service.app import create_service_app
from helpdesk_service.auth import role_guard
from helpdesk_service.errors import NotFound, Unauthorized
from helpdesk_service.settings import ServiceSettings, settings_config
from prometheus_client import REGISTRY


class Settings(ServiceSettings):
    model_config = settings_config("KIT_TEST_")
    port: int = 8099


@dataclass(frozen=True)
class Caller:
    role: str


class OneKeyAuth:
    async def principal_for(self, key: str) -> Caller:
        if key != "the-key":
            raise Unauthorized("unknown or revoked API key")
        return Caller(role="admin")


async def authenticate(request: Request) -> Caller:
    from helpdesk_service.auth import bearer_key

    auth: OneKeyAuth = request.app.state.auth
    return await auth.principal_for(bearer_key(request))


AdminOnly = Depends(role_guard(authenticate)("admin"))
router = APIRouter()


@router.get("/v1/things/{thing_id}")
async def thing(thing_id: int, caller: Caller = AdminOnly) -> dict[str, Any]:
    if thing_id == 0:
        raise NotFound("no thing 0")
    return {"id": thing_id}


@router.post("/v1/things")
async def create_thing(body: dict[str, Any], caller: Caller = AdminOnly) -> dict[str, Any]:
    return body


def build(ready: bool = True, **settings: Any) -> FastAPI:
    @asynccontextmanager
    async def resources(app: FastAPI) -> AsyncIterator[None]:
        app.state.opened = True
        yield
        app.state.opened = False

    async def database(request: Request) -> None:
        if not ready:
            raise ConnectionError("connection refused")

    return create_service_app(
        Settings(**settings),
        title="kit test",
        description="an app built by the kit",
        version="2.3.4",
        routers=[router],
        resources=resources,
        auth=lambda app: OneKeyAuth(),
        readiness={"database": database},
    )


@pytest.fixture
async def kit() -> AsyncIterator[httpx.AsyncClient]:
    app = build(max_body_bytes=100)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://kit",
            headers={"Authorization": "Bearer the-key"},
        ) as c,
    ):
        yield c


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_ops_endpoints_and_openapi(kit):
    assert (await kit.get("/healthz")).json() == {"status": "ok"}
    assert (await kit.get("/readyz")).json() == {"status": "ready"}
    spec = (await kit.get("/openapi.json")).json()
    assert spec["info"]["title"] == "kit test" and spec["info"]["version"] == "2.3.4"
    assert "/v1/things/{thing_id}" in spec["paths"]


async def test_readyz_names_what_is_not_ready():
    app = build(ready=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://kit") as c,
    ):
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "not_ready",
        "message": "database unreachable: connection refused",
        "details": None,
    }


async def test_the_authenticator_checks_keys_and_roles(kit):
    assert (await kit.get("/v1/things/1")).json() == {"id": 1}
    anonymous = await kit.get("/v1/things/1", headers={"Authorization": ""})
    wrong = await kit.get("/v1/things/1", headers={"Authorization": "Bearer other"})
    assert anonymous.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"


async def test_errors_and_the_body_limit_have_the_suite_format(kit):
    missing = await kit.get("/v1/things/0")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": "no thing 0",
        "details": None,
    }
    too_large = await kit.post("/v1/things", content=b"{" + b" " * 200 + b"}")
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "too_large"
    invalid = await kit.get("/v1/things/abc")
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"][0]["field"] == "path.thing_id"


async def test_requests_are_counted_by_route_template_and_status(kit):
    template = "/v1/things/{thing_id}"
    before_ok = sample("http_requests_total", method="GET", route=template, status="200")
    before_missing = sample("http_requests_total", method="GET", route=template, status="404")
    before_unmatched = sample("http_requests_total", method="GET", route="unmatched", status="404")
    before_timed = sample("http_request_duration_seconds_count", method="GET", route=template)
    for thing_id in (1, 2, 3, 0):
        await kit.get(f"/v1/things/{thing_id}")
    await kit.get("/nowhere/7")
    assert sample("http_requests_total", method="GET", route=template, status="200") == (
        before_ok + 3
    )
    assert sample("http_requests_total", method="GET", route=template, status="404") == (
        before_missing + 1
    )
    assert sample("http_requests_total", method="GET", route="unmatched", status="404") == (
        before_unmatched + 1
    )
    assert sample("http_request_duration_seconds_count", method="GET", route=template) == (
        before_timed + 4
    )
    exposed = (await kit.get("/metrics")).text
    assert 'route="/v1/things/{thing_id}"' in exposed and 'route="/v1/things/1"' not in exposed


async def test_a_request_answered_before_routing_counts_under_its_route(kit):
    """The body limit answers 413 before the router runs; it still counts under /v1/things."""
    labels = {"method": "POST", "route": "/v1/things", "status": "413"}
    before = sample("http_requests_total", **labels)
    await kit.post("/v1/things", content=b"{" + b" " * 200 + b"}")
    assert sample("http_requests_total", **labels) == before + 1


def test_shared_settings_are_read_with_or_without_the_prefix(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://shared/db")
    monkeypatch.setenv("HELPDESK_ADMIN_KEY", "shared-admin")
    monkeypatch.setenv("KIT_TEST_ADMIN_KEY", "own-admin")
    monkeypatch.setenv("KIT_TEST_DB_POOL_SIZE", "3")
    monkeypatch.setenv("DB_POOL_SIZE", "99")
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://shared/db"
    assert settings.admin_key == "own-admin"
    # Only the shared names are read unprefixed.
    assert settings.db_pool_size == 3
    assert settings.port == 8099


async def test_ticket_api_counts_tickets_under_their_route(api):
    """New tickets count under the route template, not the raw path."""
    labels = {"method": "POST", "route": "/v1/tickets", "status": "201"}
    before = sample("http_requests_total", **labels)
    for _ in range(3):
        await api.ticket()
    assert sample("http_requests_total", **labels) == before + 3
