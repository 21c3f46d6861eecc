"""One HTTP attempt to a checked address: no redirects followed, a hard time limit, the
connection made to the address the SSRF guard passed, with the name in Host and TLS SNI
(and the certificate checked against the name).

aiohttp rather than httpx: on loopback, at 32 requests in flight, httpx's connection pool
made 170 requests/s on this project's machine and aiohttp 1,500 (bench/NOTIFIER.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp

from .ssrf import Target

# What is read of a response body (it is not kept): enough to reuse the connection after
# the usual short answers, without holding a large one in memory.
_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class HttpOutcome:
    status_code: int | None
    latency_ms: float
    # Set when there was no response, or it did not count as delivered.
    error: str | None
    retry_after: str | None = None


class HttpSender:
    def __init__(self, *, timeout_seconds: float, connections: int) -> None:
        self._timeout = timeout_seconds
        self._session: aiohttp.ClientSession | None = None
        self._connections = connections

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop (aiohttp binds the session to it).
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"User-Agent": "helpdesk-notifier"},
                # The environment's proxies would resolve the name again, behind the guard.
                trust_env=False,
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self, target: Target, method: str, headers: dict[str, str], body: bytes
    ) -> HttpOutcome:
        started = time.perf_counter()
        try:
            async with self._client().request(
                method,
                target.connect_url(),
                headers={**headers, "Host": target.host_header()},
                data=body or None,
                allow_redirects=False,
                server_hostname=target.host if target.scheme == "https" else None,
            ) as response:
                await response.content.read(_BODY_LIMIT)
                status = response.status
                location = response.headers.get("Location")
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            return HttpOutcome(None, _since(started), f"timed out after {self._timeout:g} s")
        except aiohttp.ClientError as error:
            return HttpOutcome(None, _since(started), f"{type(error).__name__}: {error}")
        failure = None
        if 300 <= status < 400:
            failure = f"redirect to {location or '?'} not followed"
        elif not 200 <= status < 300:
            failure = f"HTTP {status}"
        return HttpOutcome(status, _since(started), failure, retry_after=retry_after)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
