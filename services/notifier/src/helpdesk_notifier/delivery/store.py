"""Deliveries in the database: stored before any attempt, claimed with a lease, finished
with their attempt logged in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from helpdesk_events import OutboundRequest
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Delivery, DeliveryAttempt, Endpoint
from .signing import new_secret
from .ssrf import ParsedUrl, UnsafeUrl, parse_url

# Deliveries' ids derive from their dedupe key, so storing one twice is a no-op.
_NAMESPACE = uuid.UUID("5b0f4f36-7d8e-4a39-9d0e-6f1f2b51c7a4")
HTTP_KINDS = ("call_url", "http_request")
MAIL_KINDS = ("send_email", "send_answer")


def delivery_id(dedupe_key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, dedupe_key)


def origin(url: ParsedUrl) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{url.port}"


async def endpoint_for(session: AsyncSession, url: ParsedUrl, now: datetime) -> uuid.UUID:
    """The endpoint of the URL's origin, registered with a fresh secret on first use."""
    key = origin(url)
    await session.execute(
        insert(Endpoint)
        .values(id=uuid.uuid4(), origin=key, secret=new_secret(), created_at=now)
        .on_conflict_do_nothing(index_elements=["origin"])
    )
    return (await session.execute(select(Endpoint.id).where(Endpoint.origin == key))).scalar_one()


def request_problem(request: OutboundRequest) -> str | None:
    """Why the request can never be sent (None: it can be tried)."""
    if request.kind in MAIL_KINDS:
        return None if request.to else "the e-mail has no recipient"
    try:
        parse_url(request.url or "")
    except UnsafeUrl as error:
        return f"url: {error}"
    return None


async def store_request(
    session: AsyncSession,
    request: OutboundRequest,
    *,
    now: datetime,
    event_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Store the request as a delivery due now (or dead at once if it can never be sent);
    a request with a known dedupe key is left as it is. Returns the delivery's id."""
    problem = request_problem(request)
    endpoint_id = None
    if problem is None and request.kind in HTTP_KINDS:
        endpoint_id = await endpoint_for(session, parse_url(request.url or ""), now)
    identifier = delivery_id(request.dedupe_key)
    await session.execute(
        insert(Delivery)
        .values(
            id=identifier,
            dedupe_key=request.dedupe_key,
            kind=request.kind,
            request=request.model_dump(mode="json"),
            endpoint_id=endpoint_id,
            event_id=event_id,
            ticket_id=ticket_id,
            state="pending" if problem is None else "dead",
            attempts=0,
            next_attempt_at=now,
            last_error=problem,
            created_at=now,
            finished_at=None if problem is None else now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return identifier


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds until ``lease_until``, for its attempt ``attempt``."""

    id: uuid.UUID
    kind: str
    request: dict[str, Any]
    endpoint_id: uuid.UUID | None
    attempt: int
    lease_until: datetime
    # The endpoint's secrets valid now (current first); empty for e-mail.
    secrets: tuple[str, ...]
    endpoint_disabled: str | None


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    slots: dict[uuid.UUID, int],
    default_slots: int,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries, at most ``slots.get(endpoint, default_slots)``
    per endpoint; endpoints without a free slot are skipped in the query, so a hanging
    endpoint's backlog never hides the others' due deliveries. Deliveries others hold are
    skipped (SKIP LOCKED); a claimant that dies lets its lease run out, and the delivery
    becomes due again then."""
    full = [endpoint for endpoint, free in slots.items() if free <= 0]
    rows = (
        await session.execute(
            select(Delivery.id, Delivery.endpoint_id)
            .where(
                Delivery.state == "pending",
                Delivery.next_attempt_at <= now,
                Delivery.endpoint_id.is_(None) | Delivery.endpoint_id.not_in(full),
            )
            .order_by(Delivery.next_attempt_at)
            .limit(limit * 4)
            .with_for_update(skip_locked=True, of=Delivery)
        )
    ).all()
    chosen: list[uuid.UUID] = []
    taken: dict[uuid.UUID, int] = {}
    for row in rows:
        if len(chosen) == limit:
            break
        if row.endpoint_id is not None:
            if taken.get(row.endpoint_id, 0) >= slots.get(row.endpoint_id, default_slots):
                continue
            taken[row.endpoint_id] = taken.get(row.endpoint_id, 0) + 1
        chosen.append(row.id)
    if not chosen:
        return []
    lease_until = now + lease
    claimed = (
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chosen))
            .values(
                attempts=Delivery.attempts + 1,
                next_attempt_at=lease_until,
                lease_until=lease_until,
            )
            .returning(
                Delivery.id,
                Delivery.kind,
                Delivery.request,
                Delivery.endpoint_id,
                Delivery.attempts,
            )
        )
    ).all()
    endpoints = {
        e.id: e
        for e in (
            await session.scalars(
                select(Endpoint).where(Endpoint.id.in_({c.endpoint_id for c in claimed}))
            )
        ).all()
    }
    out = []
    for row in claimed:
        endpoint = endpoints.get(row.endpoint_id) if row.endpoint_id is not None else None
        out.append(
            Claimed(
                id=row.id,
                kind=row.kind,
                request=row.request,
                endpoint_id=row.endpoint_id,
                attempt=row.attempts,
                lease_until=lease_until,
                secrets=() if endpoint is None else signing_secrets(endpoint, now),
                endpoint_disabled=None
                if endpoint is None or endpoint.disabled_at is None
                else endpoint.disabled_reason or "disabled",
            )
        )
    return out


def signing_secrets(endpoint: Endpoint, now: datetime) -> tuple[str, ...]:
    previous = endpoint.previous_secret
    expires = endpoint.previous_secret_expires_at
    if previous is not None and (expires is None or expires > now):
        return (endpoint.secret, previous)
    return (endpoint.secret,)


@dataclass(frozen=True)
class AttemptResult:
    started_at: datetime
    latency_ms: float
    status_code: int | None
    error: str | None
    retry_after: timedelta | None
    # delivered | retry | dead
    outcome: str
    next_attempt_at: datetime | None = None
    # Set when the endpoint must be disabled (it answered 410 Gone).
    disable_endpoint: str | None = None


async def finish_attempt(
    session: AsyncSession, claimed: Claimed, result: AttemptResult, now: datetime
) -> bool:
    """Log the attempt and move the delivery on; False (nothing written) when the lease was
    lost meanwhile (another worker took the delivery over)."""
    values: dict[str, Any] = {"lease_until": None, "last_error": result.error}
    if result.outcome == "retry":
        values |= {"state": "pending", "next_attempt_at": result.next_attempt_at}
    else:
        values |= {"state": result.outcome, "finished_at": now}
    moved = await session.execute(
        update(Delivery)
        .where(
            Delivery.id == claimed.id,
            Delivery.attempts == claimed.attempt,
            Delivery.lease_until == claimed.lease_until,
        )
        .values(**values)
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        return False
    session.add(
        DeliveryAttempt(
            delivery_id=claimed.id,
            number=claimed.attempt,
            started_at=result.started_at,
            latency_ms=result.latency_ms,
            status_code=result.status_code,
            error=result.error,
            retry_after_seconds=None
            if result.retry_after is None
            else result.retry_after.total_seconds(),
        )
    )
    if result.disable_endpoint is not None and claimed.endpoint_id is not None:
        await session.execute(
            update(Endpoint)
            .where(Endpoint.id == claimed.endpoint_id, Endpoint.disabled_at.is_(None))
            .values(disabled_at=now, disabled_reason=result.disable_endpoint)
        )
    return True
