"""What the end-to-end tests do with the processes they start: talk to them over loopback
with the admin key, and wait for what they do."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from tests.conftest import ADMIN_KEY

T = TypeVar("T")


def http(port: int, **options: Any) -> httpx.AsyncClient:
    """A client of the service on a loopback port, with the admin key (``async with``)."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
        **options,
    )


async def wait_until(
    check: Callable[[], Awaitable[T]], timeout: float = 60.0, interval: float = 0.1
) -> T:
    """The first truthy result of ``check()``, asked every ``interval`` seconds until
    ``timeout``: a wait for what the processes do, not for time to pass."""
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(interval)
    return result


async def post_ticket(
    client: httpx.AsyncClient,
    subject: str,
    customer_email: str,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Create a ticket through ticket-api (an e-mail saying hello unless ``fields`` say
    otherwise); the ticket as created."""
    response = await client.post(
        "/v1/tickets",
        json={
            "subject": subject,
            "channel": "email",
            "customer": {"email": customer_email},
            "message": {"body": "hello"},
            **fields,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
