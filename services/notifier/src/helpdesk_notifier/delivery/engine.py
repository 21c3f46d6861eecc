"""The delivery engine: claims due deliveries and attempts them side by side.

Every attempt of a delivery carries the same ``webhook-id``. Outcomes: 2xx delivered; 410
Gone disables the endpoint and kills the delivery; a redirect (never followed), another
status, a timeout or a connection error is retried on the backoff schedule (stretched by
Retry-After), and the delivery is dead after the last attempt. An address the SSRF guard
refuses at send time kills the delivery at once.

``run_due`` attempts everything due at the clock's instant and returns when done (tests and
the admin "run due" call drive time this way); ``run`` does the same continuously.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from helpdesk_events import Clock
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .http import HttpSender
from .mail import MailSender
from .schedule import parse_retry_after, retry_delay
from .signing import webhook_headers, webhook_id
from .ssrf import Network, UnsafeUrl, resolve
from .store import AttemptResult, Claimed, claim_due, finish_attempts

log = logging.getLogger(__name__)

# A header name is an RFC 9110 token.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# Headers a rule may not set: the signature's and the connection's are the notifier's.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "webhook-id", "webhook-timestamp", "webhook-signature"}
)


class DeliveryEngine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        http: HttpSender,
        mail: MailSender,
        mail_from: str,
        allowed_networks: Sequence[Network] = (),
        endpoint_concurrency: int = 4,
        max_in_flight: int = 64,
        lease: timedelta = timedelta(seconds=60),
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._http = http
        self._mail = mail
        self._mail_from = mail_from
        self._allowed = tuple(allowed_networks)
        self._endpoint_concurrency = endpoint_concurrency
        self._max_in_flight = max_in_flight
        self._lease = lease
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        # Attempts done and not yet recorded.
        self._finished: list[tuple[Claimed, AttemptResult]] = []

    async def run_due(self) -> int:
        """Attempt every delivery due now, wait for the attempts; returns how many ran."""
        attempted = 0
        while True:
            started = await self._step()
            attempted += len(started)
            if not started and not self._tasks and not self._finished:
                return attempted
            if self._tasks:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    async def run(self, stop: asyncio.Event, poll_seconds: float) -> None:
        """Deliver until ``stop`` is set; attempts under way then are finished and recorded
        first."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                try:
                    started = await self._step()
                except Exception:
                    log.exception("recording or claiming deliveries failed; trying again")
                    started = []
                if started and len(self._tasks) < self._max_in_flight:
                    continue
                waits: set[asyncio.Future[Any]] = {stopping, *self._tasks}
                await asyncio.wait(waits, timeout=poll_seconds, return_when="FIRST_COMPLETED")
            if self._tasks:
                await asyncio.wait(self._tasks)
            await self._step(claim=False)
        finally:
            stopping.cancel()

    async def _step(self, *, claim: bool = True) -> list[Claimed]:
        """One transaction: record the attempts that finished since the last step, and
        claim what is due for the free slots. Under load many attempts finish during one
        step, so their records share a commit."""
        finished, self._finished = self._finished, []
        free = self._max_in_flight - len(self._tasks) if claim else 0
        if not finished and free <= 0:
            return []
        async with self._sessions.begin() as session:
            now = self._clock.now()
            for lost in await finish_attempts(session, finished, now):
                log.warning(
                    "delivery %s: lease lost before attempt %s was recorded",
                    lost.id,
                    lost.attempt,
                )
            claimed = (
                await claim_due(
                    session,
                    now=now,
                    lease=self._lease,
                    limit=free,
                    per_endpoint=self._endpoint_concurrency,
                )
                if free > 0
                else []
            )
        for delivery in claimed:
            task = asyncio.create_task(self._attempt(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return claimed

    async def _attempt(self, delivery: Claimed) -> None:
        started_at = self._clock.now()
        try:
            if delivery.kind in ("call_url", "http_request"):
                result = await self._attempt_http(delivery)
            else:
                result = await self._attempt_mail(delivery)
        except Exception as error:
            # A request that cannot even be built (a line break in a header a rule set …)
            # would fail the same way every time: dead at once, with the reason.
            log.exception("delivery %s: attempt %s failed", delivery.id, delivery.attempt)
            result = self._failed(
                delivery, started_at, 0, f"{type(error).__name__}: {error}", permanent=True
            )
        # Recorded by the next step; until then the lease keeps the delivery here (and
        # counts it as in flight to its endpoint).
        self._finished.append((delivery, result))

    def _failed(
        self,
        delivery: Claimed,
        started_at: datetime,
        latency_ms: float,
        error: str,
        *,
        status_code: int | None = None,
        retry_after: timedelta | None = None,
        permanent: bool = False,
    ) -> AttemptResult:
        now = self._clock.now()
        delay = (
            None if permanent else retry_delay(delivery.attempt_in_round, self._rng, retry_after)
        )
        return AttemptResult(
            started_at=started_at,
            latency_ms=latency_ms,
            status_code=status_code,
            error=error,
            retry_after=retry_after,
            outcome="dead" if delay is None else "retry",
            next_attempt_at=None if delay is None else now + delay,
        )

    async def _attempt_http(self, delivery: Claimed) -> AttemptResult:
        started_at = self._clock.now()
        if delivery.endpoint_disabled is not None:
            return self._failed(
                delivery,
                started_at,
                0,
                f"endpoint disabled: {delivery.endpoint_disabled}",
                permanent=True,
            )
        request = delivery.request
        try:
            target = await resolve(request.get("url") or "", self._allowed)
        except UnsafeUrl as error:
            return self._failed(delivery, started_at, 0, str(error), permanent=True)
        body = (request.get("body") or "").encode()
        headers = {
            name: value
            for name, value in (request.get("headers") or {}).items()
            if name.lower() not in _RESERVED_HEADERS
        }
        invalid = [name for name in headers if not _HEADER_NAME.fullmatch(name)]
        if invalid:
            raise ValueError(f"not a valid header name: {invalid[0]!r}")
        headers |= webhook_headers(webhook_id(delivery.id), started_at, body, delivery.secrets)
        outcome = await self._http.send(target, request.get("method") or "GET", headers, body)
        if outcome.error is None:
            return AttemptResult(
                started_at=started_at,
                latency_ms=outcome.latency_ms,
                status_code=outcome.status_code,
                error=None,
                retry_after=None,
                outcome="delivered",
            )
        if outcome.status_code == 410:
            result = self._failed(
                delivery,
                started_at,
                outcome.latency_ms,
                "HTTP 410: the endpoint is gone",
                status_code=410,
                permanent=True,
            )
            return replace(result, disable_endpoint="answered 410 Gone")
        return self._failed(
            delivery,
            started_at,
            outcome.latency_ms,
            outcome.error,
            status_code=outcome.status_code,
            retry_after=parse_retry_after(outcome.retry_after, self._clock.now()),
        )

    async def _attempt_mail(self, delivery: Claimed) -> AttemptResult:
        started_at = self._clock.now()
        request = delivery.request
        message = EmailMessage()
        message["From"] = self._mail_from
        message["To"] = ", ".join(request.get("to") or [])
        if request.get("cc"):
            message["Cc"] = ", ".join(request["cc"])
        if request.get("bcc"):
            message["Bcc"] = ", ".join(request["bcc"])
        message["Subject"] = request.get("subject") or ""
        # The same on every attempt: mail systems drop a second copy.
        message["Message-ID"] = f"<{delivery.id.hex}@helpdesk-notifier>"
        message.set_content(request.get("body") or "")
        outcome = await self._mail.send(message)
        if outcome.error is None:
            return AttemptResult(
                started_at=started_at,
                latency_ms=outcome.latency_ms,
                status_code=None,
                error=None,
                retry_after=None,
                outcome="delivered",
            )
        return self._failed(
            delivery, started_at, outcome.latency_ms, outcome.error, permanent=outcome.permanent
        )
