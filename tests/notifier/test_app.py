"""The service skeleton: migrated schema, health, the admin key guard."""

from __future__ import annotations

import httpx


async def test_ready_and_guarded(notifier: httpx.AsyncClient) -> None:
    assert (await notifier.get("/readyz")).status_code == 200
    assert (await notifier.get("/v1/deliveries")).json() == []
    refused = await notifier.get("/v1/deliveries", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code in (401, 503)
