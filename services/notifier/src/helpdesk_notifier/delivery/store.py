"""Deliveries in the database: stored before any attempt, claimed with a lease, finished
with their attempt logged in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from helpdesk_events import OutboundRequest
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Delivery, Endpoint
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
    # Which attempt of the current round this is (the schedule counts these).
    attempt_in_round: int
    lease_until: datetime
    # The endpoint's secrets valid now (current first); empty for e-mail.
    secrets: tuple[str, ...]
    endpoint_disabled: str | None


# Claims are serialized across workers by this transaction-level advisory lock, so each
# claim counts the attempts in flight per endpoint after the previous claim committed.
_CLAIM_LOCK = text("SELECT pg_advisory_xact_lock(7241530966290421001)")

# One round trip: count the attempts in flight per endpoint (deliveries leased and not yet
# finished, by every worker), lock due deliveries (skipping those other workers hold) of
# endpoints with a free slot, keep at most the free slots per endpoint, lease them, and
# return them with their endpoint's secrets.
_CLAIM = text(
    """
    WITH busy AS (
        SELECT endpoint_id, count(*) AS in_flight FROM notify.delivery
        WHERE lease_until IS NOT NULL AND lease_until > :now AND state = 'pending'
          AND endpoint_id IS NOT NULL
        GROUP BY endpoint_id
    ), due AS (
        SELECT id, endpoint_id, next_attempt_at FROM notify.delivery
        WHERE state = 'pending' AND next_attempt_at <= :now
          AND (endpoint_id IS NULL OR endpoint_id NOT IN (
              SELECT endpoint_id FROM busy WHERE in_flight >= :per_endpoint))
        ORDER BY next_attempt_at
        LIMIT :scan
        FOR UPDATE SKIP LOCKED
    ), ranked AS (
        SELECT id, endpoint_id, next_attempt_at,
               row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at) AS place
        FROM due
    ), chosen AS (
        SELECT r.id, r.endpoint_id FROM ranked r
        LEFT JOIN busy b ON b.endpoint_id = r.endpoint_id
        WHERE r.endpoint_id IS NULL OR r.place <= :per_endpoint - coalesce(b.in_flight, 0)
        ORDER BY r.next_attempt_at
        LIMIT :limit
    )
    UPDATE notify.delivery d
    SET attempts = d.attempts + 1, next_attempt_at = :lease_until, lease_until = :lease_until
    FROM chosen c LEFT JOIN notify.endpoint e ON e.id = c.endpoint_id
    WHERE d.id = c.id
    RETURNING d.id, d.kind, d.request, d.endpoint_id, d.attempts, d.round_start,
              e.secret, e.previous_secret,
              e.previous_secret_expires_at, e.disabled_at, e.disabled_reason
    """
).columns(request=JSONB)


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    per_endpoint: int,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries, keeping the attempts in flight to one endpoint
    — by all workers together — at most ``per_endpoint``; endpoints without a free slot are
    left out of the query, so a hanging endpoint's backlog never hides the others' due
    deliveries. Deliveries others hold are skipped (SKIP LOCKED); a claimant that dies lets
    its lease run out, and the delivery becomes due again then (and stops counting as in
    flight)."""
    lease_until = now + lease
    await session.execute(_CLAIM_LOCK)
    rows = (
        await session.execute(
            _CLAIM,
            {
                "now": now,
                "scan": limit * 4,
                "per_endpoint": per_endpoint,
                "limit": limit,
                "lease_until": lease_until,
            },
        )
    ).all()
    return [
        Claimed(
            id=row.id,
            kind=row.kind,
            request=row.request,
            endpoint_id=row.endpoint_id,
            attempt=row.attempts,
            attempt_in_round=row.attempts - row.round_start,
            lease_until=lease_until,
            secrets=()
            if row.secret is None
            else signing_secrets(
                row.secret, row.previous_secret, row.previous_secret_expires_at, now
            ),
            endpoint_disabled=None
            if row.disabled_at is None
            else row.disabled_reason or "disabled",
        )
        for row in rows
    ]


def signing_secrets(
    secret: str, previous: str | None, previous_expires: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets that sign now: the current one, and the previous one until it expires."""
    if previous is not None and (previous_expires is None or previous_expires > now):
        return (secret, previous)
    return (secret,)


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


_FINISH = text(
    """
    UPDATE notify.delivery d
    SET state = v.state,
        next_attempt_at = coalesce(v.next_attempt_at, d.next_attempt_at),
        finished_at = v.finished_at,
        lease_until = NULL,
        last_error = v.error
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:leases AS timestamptz[]),
        CAST(:states AS text[]), CAST(:nexts AS timestamptz[]),
        CAST(:finished AS timestamptz[]), CAST(:errors AS text[])
    ) AS v (id, attempt, lease_until, state, next_attempt_at, finished_at, error)
    WHERE d.id = v.id AND d.attempts = v.attempt AND d.lease_until = v.lease_until
    RETURNING d.id
    """
)
_LOG_ATTEMPTS = text(
    """
    INSERT INTO notify.delivery_attempt
        (delivery_id, number, started_at, latency_ms, status_code, error, retry_after_seconds)
    SELECT * FROM unnest(
        CAST(:ids AS uuid[]), CAST(:numbers AS int[]), CAST(:started AS timestamptz[]),
        CAST(:latencies AS float8[]), CAST(:statuses AS int[]), CAST(:errors AS text[]),
        CAST(:retry_after AS float8[])
    )
    """
)


async def finish_attempts(
    session: AsyncSession, finished: list[tuple[Claimed, AttemptResult]], now: datetime
) -> list[Claimed]:
    """Log the attempts and move their deliveries on, all in two statements. Returns the
    deliveries whose lease was lost meanwhile (another worker took them over): for those
    nothing is written."""
    if not finished:
        return []
    moved = set(
        (
            await session.execute(
                _FINISH,
                {
                    "ids": [d.id for d, _ in finished],
                    "attempts": [d.attempt for d, _ in finished],
                    "leases": [d.lease_until for d, _ in finished],
                    "states": [
                        "pending" if r.outcome == "retry" else r.outcome for _, r in finished
                    ],
                    "nexts": [r.next_attempt_at for _, r in finished],
                    "finished": [None if r.outcome == "retry" else now for _, r in finished],
                    "errors": [r.error for _, r in finished],
                },
            )
        ).scalars()
    )
    recorded = [(d, r) for d, r in finished if d.id in moved]
    if recorded:
        await session.execute(
            _LOG_ATTEMPTS,
            {
                "ids": [d.id for d, _ in recorded],
                "numbers": [d.attempt for d, _ in recorded],
                "started": [r.started_at for _, r in recorded],
                "latencies": [r.latency_ms for _, r in recorded],
                "statuses": [r.status_code for _, r in recorded],
                "errors": [r.error for _, r in recorded],
                "retry_after": [
                    None if r.retry_after is None else r.retry_after.total_seconds()
                    for _, r in recorded
                ],
            },
        )
    for delivery, result in recorded:
        if result.disable_endpoint is not None and delivery.endpoint_id is not None:
            await session.execute(
                update(Endpoint)
                .where(Endpoint.id == delivery.endpoint_id, Endpoint.disabled_at.is_(None))
                .values(disabled_at=now, disabled_reason=result.disable_endpoint)
            )
    return [d for d, _ in finished if d.id not in moved]
