"""/v1/deliveries (the delivery log, manual redelivery) and /v1/endpoints (receivers,
their signing secrets and rotation). Admin only."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from helpdesk_service.auth import AdminOnly, Principal
from helpdesk_service.db import Session, get_or_not_found
from helpdesk_service.errors import Conflict, Unprocessable
from helpdesk_service.responses import JsonResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..delivery.signing import new_secret, webhook_id
from ..delivery.ssrf import UnsafeUrl, parse_url, resolve
from ..delivery.store import endpoint_for
from ..models import Delivery, DeliveryAttempt, Endpoint
from .schemas import AttemptOut, DeliveryDetail, DeliveryOut, EndpointIn, EndpointOut, RotateIn

router = APIRouter(prefix="/v1", tags=["deliveries"])


def _delivery(row: Delivery) -> dict[str, Any]:
    fields = {name: getattr(row, name) for name in DeliveryOut.model_fields if name != "webhook_id"}
    # A finished delivery has no next attempt (the column keeps its last due time).
    if row.state != "pending":
        fields["next_attempt_at"] = None
    return DeliveryOut.model_validate({**fields, "webhook_id": webhook_id(row.id)}).model_dump(
        mode="json"
    )


@router.get("/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    session: Session,
    state: Literal["pending", "delivered", "dead"] | None = None,
    ticket_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """Deliveries, newest first; ``state=dead`` is the dead-letter list."""
    query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)
    if state is not None:
        query = query.where(Delivery.state == state)
    if ticket_id is not None:
        query = query.where(Delivery.ticket_id == ticket_id)
    rows = (await session.scalars(query)).all()
    return JsonResponse([_delivery(r) for r in rows])


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(
    delivery_id: uuid.UUID, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """A delivery with its attempts (status, latency, error)."""
    row = await get_or_not_found(session, Delivery, delivery_id, f"no delivery {delivery_id}")
    attempts = (
        await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.number, DeliveryAttempt.id)
        )
    ).all()
    return JsonResponse(
        {
            **_delivery(row),
            "attempt_log": [AttemptOut.model_validate(a).model_dump(mode="json") for a in attempts],
        }
    )


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
async def redeliver(
    delivery_id: uuid.UUID, request: Request, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """Send a delivered or dead delivery again, now, with the same webhook-id (a new round
    of attempts on the schedule)."""
    row = await get_or_not_found(
        session, Delivery, delivery_id, f"no delivery {delivery_id}", with_for_update=True
    )
    if row.state == "pending":
        raise Conflict(f"delivery {delivery_id} is pending already: it will be attempted")
    now = request.app.state.clock.now()
    row.state = "pending"
    row.round_start = row.attempts
    row.next_attempt_at = now
    row.finished_at = None
    await session.commit()
    return JsonResponse(_delivery(row))


def _endpoint(row: Endpoint) -> dict[str, Any]:
    return EndpointOut.model_validate(row).model_dump(mode="json")


@router.get("/endpoints", response_model=list[EndpointOut])
async def list_endpoints(session: Session, _: Principal = AdminOnly) -> JsonResponse:
    rows = (await session.scalars(select(Endpoint).order_by(Endpoint.origin))).all()
    return JsonResponse([_endpoint(r) for r in rows])


@router.post("/endpoints", status_code=201, response_model=EndpointOut)
async def register_endpoint(
    data: EndpointIn, request: Request, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """Register a receiver (its secret is made now, to configure the receiver before the
    first delivery). The URL is checked against the SSRF guard now and again at each send."""
    try:
        await resolve(data.url, request.app.state.allowed_networks)
    except UnsafeUrl as error:
        raise Unprocessable(f"url: {error}") from None
    endpoint_id = await endpoint_for(session, parse_url(data.url), request.app.state.clock.now())
    await session.commit()
    row = await session.get(Endpoint, endpoint_id)
    assert row is not None
    return JsonResponse(_endpoint(row), 201)


async def _get_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> Endpoint:
    return await get_or_not_found(
        session, Endpoint, endpoint_id, f"no endpoint {endpoint_id}", with_for_update=True
    )


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointOut)
async def rotate_secret(
    endpoint_id: uuid.UUID,
    data: RotateIn,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """A new secret; deliveries carry a signature with the old one too for
    ``keep_previous_hours``."""
    row = await _get_endpoint(session, endpoint_id)
    now = request.app.state.clock.now()
    row.previous_secret = row.secret
    row.previous_secret_expires_at = now + timedelta(hours=data.keep_previous_hours)
    row.secret = new_secret()
    await session.commit()
    return JsonResponse(_endpoint(row))


@router.post("/endpoints/{endpoint_id}/enable", response_model=EndpointOut)
async def enable_endpoint(
    endpoint_id: uuid.UUID, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    """Enable an endpoint disabled by a 410 (its dead deliveries can then be redelivered)."""
    row = await _get_endpoint(session, endpoint_id)
    row.disabled_at = None
    row.disabled_reason = None
    await session.commit()
    return JsonResponse(_endpoint(row))
