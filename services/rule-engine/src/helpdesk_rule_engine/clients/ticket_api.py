"""Typed client for ticket-api: one shared AsyncClient, the service key, write-backs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from helpdesk_conditions import CustomField


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


class TicketApiError(RuntimeError):
    """ticket-api could not be reached or failed (5xx): the event is retried."""


class TicketApiClient:
    def __init__(self, client: httpx.AsyncClient, service_key: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {service_key}"}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}

    async def apply_actions(
        self, ticket_id: uuid.UUID, batch: dict[str, Any], idempotency_key: str
    ) -> WriteBackResult:
        try:
            response = await self._client.post(
                f"/v1/tickets/{ticket_id}/actions",
                content=orjson.dumps(batch),
                headers={**self._json_headers, "Idempotency-Key": idempotency_key},
            )
        except httpx.HTTPError as exc:
            raise TicketApiError(f"write-back to ticket {ticket_id} failed: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TicketApiError(
                f"write-back to ticket {ticket_id}: ticket-api answered {response.status_code}"
            )
        content = response.content
        return WriteBackResult(response.status_code, orjson.loads(content) if content else {})

    async def get_ticket(self, ticket_id: uuid.UUID) -> dict[str, Any] | None:
        try:
            response = await self._client.get(f"/v1/tickets/{ticket_id}", headers=self._headers)
        except httpx.HTTPError as exc:
            raise TicketApiError(f"reading ticket {ticket_id} failed: {exc!r}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TicketApiError(
                f"reading ticket {ticket_id}: ticket-api answered {response.status_code}"
            )
        body: dict[str, Any] = response.json()
        return body

    async def custom_fields(self) -> list[CustomField]:
        """Custom field definitions, for conditions on custom fields."""
        try:
            response = await self._client.get(
                "/v1/custom-fields", params={"limit": 500}, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise TicketApiError(f"reading custom fields failed: {exc!r}") from exc
        if response.status_code != 200:
            raise TicketApiError(
                f"reading custom fields: ticket-api answered {response.status_code}"
            )
        return [
            CustomField(key=d["key"], type=d["type"], options=tuple(d.get("options") or ()))
            for d in response.json()["items"]
        ]
