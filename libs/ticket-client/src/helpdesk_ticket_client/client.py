"""Typed client for ticket-api: one aiohttp session, one key, write-backs, reads, search.

aiohttp rather than httpx: every rule that changes a ticket is one request, and measured
against the same server with 16 requests in flight, httpx spent about 1.7 ms of CPU per
request (its pool checks every pooled connection's socket on each request) and aiohttp
0.15 ms. That was a third of the rule worker's CPU.

Write-backs leave in batches (``POST /v1/tickets/actions``): one request and one
transaction per write-back cost ticket-api and PostgreSQL more than the write-back itself.
A write-back goes at once while fewer than ``write_backs_in_flight`` requests are out (no
added wait at low load); the ones that arrive while they all are wait and leave together
when one returns.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import aiohttp
import orjson
from helpdesk_conditions import CustomField
from helpdesk_events import TicketSnapshot
from helpdesk_events.vocabulary import KeyRole
from pydantic import BaseModel

from .actions import ActionBatch


@dataclass(frozen=True)
class WriteBackResult:
    status_code: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def refused(self) -> bool:
        """ticket-api refused the change for a reason retrying will not fix (4xx)."""
        return 400 <= self.status_code < 500 and self.status_code not in (408, 429)


class WhoAmI(BaseModel):
    """What an API key is (``GET /v1/whoami``)."""

    key_id: uuid.UUID
    name: str
    role: KeyRole
    agent_id: uuid.UUID | None
    department_ids: list[uuid.UUID]


class TicketSearchPage(BaseModel):
    """One page of ``POST /v1/tickets/search``: pass ``next_cursor`` and ``at`` back for
    the next."""

    items: list[TicketSnapshot]
    next_cursor: str | None
    at: datetime


class TicketApiError(RuntimeError):
    """ticket-api could not be reached or failed (5xx, 408, 429): worth retrying later."""


# ticket-api refuses bodies over 1 MiB (``max_body_bytes``): a batch request stops adding
# write-backs at half that, so it stays well under whatever the write-backs hold.
_BATCH_BODY_BYTES = 512 * 1024
# Fewer than ticket-api takes (200): when the database refuses a write, ticket-api applies the
# request again with each write-back in a savepoint that writes, so a subtransaction with its
# own transaction id, and past 64 of them in one transaction PostgreSQL's per-backend cache
# of them overflows: every other session's snapshot then looks transaction ids up in
# pg_subtrans until it commits.
_BATCH_WRITE_BACKS = 64


@dataclass(eq=False)
class _QueuedWriteBack:
    """A write-back waiting for its batch request, and the caller waiting for its answer."""

    ticket_id: uuid.UUID
    key: str
    encoded: bytes
    answer: asyncio.Future[WriteBackResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def what(self) -> str:
        return f"write-back to ticket {self.ticket_id}"


def ticket_api_session(
    base_url: str, *, connections: int = 16, timeout: float = 10.0
) -> aiohttp.ClientSession:
    """The session a TicketApiClient talks through: at most ``connections`` at once (one per
    event in flight is enough), kept alive between requests. Create it inside a running
    event loop and close it when done."""
    return aiohttp.ClientSession(
        base_url.rstrip("/") + "/",
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
        # Requests carry a key; nothing else is sent, nothing kept.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class TicketApiClient:
    """ticket-api as a service reaches it, with the service's own key (``key``)."""

    def __init__(
        self, session: aiohttp.ClientSession, key: str, *, write_backs_in_flight: int = 4
    ) -> None:
        self._session = session
        self._headers = _bearer(key)
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._write_backs_in_flight = write_backs_in_flight
        self._queued: deque[_QueuedWriteBack] = deque()
        self._batch_requests: set[asyncio.Task[None]] = set()

    async def _request(
        self, method: str, path: str, what: str, **options: Any
    ) -> tuple[int, bytes]:
        try:
            async with self._session.request(method, path, **options) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TicketApiError(f"{what} failed: {exc!r}") from exc

    async def apply_actions(
        self, ticket_id: uuid.UUID, batch: ActionBatch, idempotency_key: str
    ) -> WriteBackResult:
        """Apply ``batch`` to the ticket; a retry with the same ``idempotency_key`` replays
        the first answer instead of applying it twice. Sent with the other write-backs
        waiting (see the module's docstring); the answer is this one's alone."""
        # Only what the caller set: ticket-api fills in the same defaults.
        body = batch.model_dump_json(by_alias=True, exclude_unset=True).encode()
        queued = _QueuedWriteBack(
            ticket_id,
            idempotency_key,
            b'{"ticket_id":"%s","idempotency_key":%s,"batch":%s}'
            % (str(ticket_id).encode(), orjson.dumps(idempotency_key), body),
        )
        self._queued.append(queued)
        if len(self._batch_requests) < self._write_backs_in_flight:
            self._send_queued()
        # A caller cancelled cancels its answer only: still queued, it is not sent; already
        # sent, the request goes on for the others (a retry with its key replays it).
        return await queued.answer

    def _send_queued(self) -> None:
        """Send the write-backs waiting, as many as one request takes, oldest first."""
        batch: list[_QueuedWriteBack] = []
        keys: set[str] = set()
        size = 0
        later: deque[_QueuedWriteBack] = deque()
        while self._queued and len(batch) < _BATCH_WRITE_BACKS:
            queued = self._queued.popleft()
            if queued.answer.done():
                continue
            if queued.key in keys:
                # The same key twice in one request is refused: the repeat waits its turn.
                later.append(queued)
                continue
            if batch and size + len(queued.encoded) > _BATCH_BODY_BYTES:
                self._queued.appendleft(queued)
                break
            batch.append(queued)
            keys.add(queued.key)
            size += len(queued.encoded) + 1
        self._queued.extendleft(reversed(later))
        if not batch:
            return
        request = asyncio.get_running_loop().create_task(self._send_batch(batch))
        self._batch_requests.add(request)
        request.add_done_callback(self._batch_request_done)

    def _batch_request_done(self, request: asyncio.Task[None]) -> None:
        self._batch_requests.discard(request)
        if self._queued:
            self._send_queued()

    async def _send_batch(self, batch: list[_QueuedWriteBack]) -> None:
        """One request for ``batch``: each write-back's answer to its caller, or the
        request's failure to each of them."""
        try:
            answers = await self._batch_answers(batch)
        except BaseException as exc:
            for queued in batch:
                if not queued.answer.done():
                    failure = TicketApiError(f"{queued.what}: {exc}")
                    failure.__cause__ = exc
                    queued.answer.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        for queued, answer in zip(batch, answers, strict=True):
            if not queued.answer.done():
                queued.answer.set_result(answer)

    async def _batch_answers(self, batch: list[_QueuedWriteBack]) -> list[WriteBackResult]:
        what = "sending write-backs"
        status, content = await self._request(
            "POST",
            "v1/tickets/actions",
            what,
            data=b'{"items":[' + b",".join(q.encoded for q in batch) + b"]}",
            headers=self._json_headers,
        )
        if status >= 500 or status in (408, 429):
            raise TicketApiError(f"ticket-api answered {status}")
        body = orjson.loads(content) if content else {}
        if status != 200:
            # Refused as a whole (a key it does not take, a body too large): what it would
            # have said to each write-back alone.
            return [WriteBackResult(status, body)] * len(batch)
        results = body["results"]
        if len(results) != len(batch):
            raise TicketApiError(f"{len(results)} answers to {len(batch)} write-backs")
        return [WriteBackResult(result["status"], result["body"]) for result in results]

    async def get_ticket(self, ticket_id: uuid.UUID) -> dict[str, Any] | None:
        """The ticket's snapshot, or None if ticket-api has no ticket with this id."""
        return await self._get_record(f"v1/tickets/{ticket_id}", f"ticket {ticket_id}")

    async def get_department(self, department_id: uuid.UUID) -> dict[str, Any] | None:
        """The department, or None if ticket-api has no department with this id."""
        return await self._get_record(f"v1/departments/{department_id}", "department")

    async def get_agent(self, agent_id: uuid.UUID) -> dict[str, Any] | None:
        """The agent (departments, availability per channel), or None if there is none."""
        return await self._get_record(f"v1/agents/{agent_id}", "agent")

    async def agents(
        self,
        *,
        department_id: uuid.UUID | None = None,
        active: bool | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every agent (of ``department_id``, only active or inactive ones if asked), page by
        page, each as ``get_agent`` gives it."""
        what = (
            "listing agents"
            if department_id is None
            else (f"listing the agents of department {department_id}")
        )
        params = {"limit": str(page_size)}
        if department_id is not None:
            params["department_id"] = str(department_id)
        if active is not None:
            params["active"] = "true" if active else "false"
        while True:
            status, content = await self._request(
                "GET", "v1/agents", what, params=params, headers=self._headers
            )
            if status != 200:
                raise TicketApiError(f"{what}: ticket-api answered {status}")
            page = orjson.loads(content)
            for agent in page["items"]:
                yield agent
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def _get_record(self, path: str, what: str) -> dict[str, Any] | None:
        status, content = await self._request("GET", path, f"reading {what}", headers=self._headers)
        if status == 404:
            return None
        if status != 200:
            raise TicketApiError(f"reading {what}: ticket-api answered {status}")
        body: dict[str, Any] = orjson.loads(content)
        return body

    async def search_tickets(
        self,
        conditions: dict[str, Any],
        *,
        limit: int = 50,
        cursor: str | None = None,
        at: datetime | None = None,
        include_deleted: bool = False,
    ) -> TicketSearchPage:
        """Tickets matching ``conditions`` (the condition language), newest first. A
        condition ticket-api refuses raises TicketApiError with its message."""
        what = "searching tickets"
        query: dict[str, Any] = {
            "conditions": conditions,
            "limit": limit,
            "include_deleted": include_deleted,
        }
        if cursor is not None:
            query["cursor"] = cursor
        if at is not None:
            query["at"] = at.isoformat()
        status, content = await self._request(
            "POST",
            "v1/tickets/search",
            what,
            data=orjson.dumps(query),
            headers=self._json_headers,
        )
        if status != 200:
            raise TicketApiError(f"{what}: ticket-api answered {status}: {content[:500]!r}")
        return TicketSearchPage.model_validate_json(content)

    async def directory_record_exists(
        self, collection: Literal["departments", "agents"], record_id: uuid.UUID
    ) -> bool:
        """Whether a department or agent with this id exists (for references rules make)."""
        return await self._get_record(f"v1/{collection}/{record_id}", collection) is not None

    async def custom_fields(self) -> list[CustomField]:
        """Custom field definitions, for conditions on custom fields."""
        what = "reading custom fields"
        status, content = await self._request(
            "GET", "v1/custom-fields", what, params={"limit": "500"}, headers=self._headers
        )
        if status != 200:
            raise TicketApiError(f"{what}: ticket-api answered {status}")
        return [
            CustomField(key=d["key"], type=d["type"], options=tuple(d.get("options") or ()))
            for d in orjson.loads(content)["items"]
        ]

    async def whoami(self, key: str) -> WhoAmI | None:
        """What ``key`` (a caller's, not this client's own) is; None if ticket-api does not
        know it or it was revoked."""
        what = "verifying an API key"
        status, content = await self._request("GET", "v1/whoami", what, headers=_bearer(key))
        if status == 401:
            return None
        if status != 200:
            raise TicketApiError(f"{what}: ticket-api answered {status}")
        return WhoAmI.model_validate_json(content)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
