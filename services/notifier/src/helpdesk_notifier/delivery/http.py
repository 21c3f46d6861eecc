"""One HTTP attempt to a checked address: no redirects followed, a hard time limit, the
connection made to the address the SSRF guard passed, with the name in Host and SNI."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from .ssrf import Target


@dataclass(frozen=True)
class HttpOutcome:
    status_code: int | None
    latency_ms: float
    # Set when there was no response, or it did not count as delivered.
    error: str | None
    retry_after: str | None = None
    location: str | None = None


class HttpSender:
    def __init__(self, *, timeout_seconds: float, connections: int) -> None:
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            # The environment's proxies would resolve the name again, behind the guard.
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(
        self, target: Target, method: str, headers: dict[str, str], body: bytes
    ) -> HttpOutcome:
        request = self._client.build_request(
            method,
            target.connect_url(),
            headers={**headers, "host": target.host_header()},
            content=body or None,
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.send(request)
        except (TimeoutError, httpx.TimeoutException):
            return HttpOutcome(None, _since(started), f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as error:
            return HttpOutcome(None, _since(started), f"{type(error).__name__}: {error}")
        latency = _since(started)
        status = response.status_code
        failure = None
        if response.is_redirect:
            failure = f"redirect to {response.headers.get('location', '?')} not followed"
        elif not response.is_success:
            failure = f"HTTP {status}"
        return HttpOutcome(
            status,
            latency,
            failure,
            retry_after=response.headers.get("retry-after"),
            location=response.headers.get("location"),
        )


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
