"""Operational endpoints ops teams rely on: health, readiness, metrics, OpenAPI."""

import httpx
from helpdesk_ticket_api.config import Settings
from helpdesk_ticket_api.main import create_app


async def test_health_ready_and_openapi_need_no_key(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/readyz")).json() == {"status": "ready"}
        spec = (await c.get("/openapi.json")).json()
        assert "/v1/tickets/{ticket_id}/actions" in spec["paths"]
        assert "/v1/tickets/{ticket_id}/history" in spec["paths"]
        metrics = await c.get("/metrics")
        assert metrics.status_code == 200 and "python_info" in metrics.text


async def test_readyz_reports_an_unreachable_database():
    from helpdesk_devstack.ports import free_port

    app = create_app(
        Settings(database_url=f"postgresql+asyncpg://x:y@127.0.0.1:{free_port()}/none")
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c,
    ):
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready"
