"""The service as the kit builds it: health, readiness, its schema migrated."""

from __future__ import annotations

import httpx


async def test_the_router_is_healthy_and_ready(router: httpx.AsyncClient) -> None:
    assert (await router.get("/healthz")).status_code == 200
    ready = await router.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_the_openapi_document_names_the_router(router: httpx.AsyncClient) -> None:
    response = await router.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "helpdesk router"
