"""/v1/departments/{id}/policies and /v1/agents/{id}/profile: how each department
distributes each channel, and each agent's priority and maximum load per channel;
/v1/tickets/{id}/routing: the decisions taken for a ticket, explained;
/v1/agents/{id}/next: the "to solve" queue; /v1/offers: ring all."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from helpdesk_service.auth import AdminOnly, AnyRole, Principal
from helpdesk_service.db import Session
from helpdesk_service.errors import Forbidden, Unprocessable
from helpdesk_service.responses import JsonResponse
from helpdesk_ticket_client import TicketApiClient
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import RoutingDecision
from .offers import accept_offer, expire_offers, open_offers
from .policies import (
    POLICIES,
    PROFILES,
    PolicyIn,
    PolicyOut,
    ProfileIn,
    ProfileOut,
    RoutingChannel,
    check_policy,
    put_policy,
    put_profile,
)
from .pull import take_next

router = APIRouter(prefix="/v1", tags=["routing"])


async def _known_department(request: Request, department_id: uuid.UUID) -> None:
    ticket_api: TicketApiClient = request.app.state.ticket_api
    if await ticket_api.get_department(department_id) is None:
        raise Unprocessable(
            f"department_id: ticket-api has no department {department_id}; "
            "create it there first (POST /v1/departments)"
        )


async def _known_agent(request: Request, agent_id: uuid.UUID) -> None:
    ticket_api: TicketApiClient = request.app.state.ticket_api
    if await ticket_api.get_agent(agent_id) is None:
        raise Unprocessable(
            f"agent_id: ticket-api has no agent {agent_id}; create it there first (POST /v1/agents)"
        )


async def _policies_out(session: AsyncSession, department_id: uuid.UUID) -> JsonResponse:
    policies = await POLICIES.applied(session, department_id)
    items = [
        PolicyOut(
            channel=channel,
            method=policy.method,
            distribution=policy.distribution,
            offer_timeout_seconds=policy.offer_timeout_seconds,
            configured=policy.configured,
        ).model_dump(mode="json")
        for channel, policy in policies.items()
    ]
    return JsonResponse({"department_id": str(department_id), "items": items})


async def _profile_out(session: AsyncSession, agent_id: uuid.UUID) -> JsonResponse:
    profiles = await PROFILES.applied(session, agent_id)
    items = [
        ProfileOut(
            channel=channel,
            priority=profile.priority,
            max_load=profile.max_load,
            configured=profile.configured,
        ).model_dump(mode="json")
        for channel, profile in profiles.items()
    ]
    return JsonResponse({"agent_id": str(agent_id), "items": items})


@router.get("/departments/{department_id}/policies")
async def get_policies(
    department_id: uuid.UUID, request: Request, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    """How the department distributes each channel; ``configured: false`` is the default."""
    await _known_department(request, department_id)
    return await _policies_out(session, department_id)


@router.put("/departments/{department_id}/policies/{channel}")
async def set_policy(
    department_id: uuid.UUID,
    channel: RoutingChannel,
    data: PolicyIn,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """Set how the department distributes one channel's tickets."""
    check_policy(channel, data)
    await _known_department(request, department_id)
    await put_policy(session, department_id, channel, data, request.app.state.clock.now())
    await session.commit()
    return await _policies_out(session, department_id)


@router.delete("/departments/{department_id}/policies/{channel}")
async def reset_policy(
    department_id: uuid.UUID,
    channel: RoutingChannel,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """Back to the default policy for this channel."""
    await POLICIES.reset(session, department_id, channel)
    await session.commit()
    return await _policies_out(session, department_id)


@router.get("/agents/{agent_id}/profile")
async def get_profile(
    agent_id: uuid.UUID, request: Request, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    """The agent's priority and maximum load on each channel; ``configured: false`` is the
    default."""
    await _known_agent(request, agent_id)
    return await _profile_out(session, agent_id)


@router.put("/agents/{agent_id}/profile/{channel}")
async def set_profile(
    agent_id: uuid.UUID,
    channel: RoutingChannel,
    data: ProfileIn,
    request: Request,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """Set the agent's priority (1 highest … 100) and maximum load on one channel."""
    await _known_agent(request, agent_id)
    await put_profile(session, agent_id, channel, data, request.app.state.clock.now())
    await session.commit()
    return await _profile_out(session, agent_id)


@router.delete("/agents/{agent_id}/profile/{channel}")
async def reset_profile(
    agent_id: uuid.UUID,
    channel: RoutingChannel,
    session: Session,
    _: Principal = AdminOnly,
) -> JsonResponse:
    """Back to the default priority and maximum load on this channel."""
    await PROFILES.reset(session, agent_id, channel)
    await session.commit()
    return await _profile_out(session, agent_id)


@router.get("/tickets/{ticket_id}/routing")
async def ticket_routing(
    ticket_id: uuid.UUID, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    """Every routing decision for the ticket, oldest first: the method, the outcome, why the
    winner won, and each candidate considered with why they were skipped or not chosen."""
    rows = (
        await session.scalars(
            select(RoutingDecision)
            .where(RoutingDecision.ticket_id == ticket_id)
            .order_by(RoutingDecision.id)
        )
    ).all()
    items = [
        {
            "id": row.id,
            "event_id": str(row.event_id) if row.event_id else None,
            "department_id": str(row.department_id) if row.department_id else None,
            "channel": row.channel,
            "method": row.method,
            "outcome": row.outcome,
            "agent_id": str(row.agent_id) if row.agent_id else None,
            "reason": row.reason,
            "candidates": row.candidates,
            "decided_at": row.decided_at.isoformat(),
        }
        for row in rows
    ]
    return JsonResponse({"ticket_id": str(ticket_id), "items": items})


@router.post("/agents/{agent_id}/next")
async def next_ticket(
    agent_id: uuid.UUID, request: Request, principal: Principal = AnyRole
) -> Response:
    """Assign the agent the first waiting ticket in queue order (nearest SLA due date, then
    oldest) of their departments ("to solve") on a channel where they have a free slot. An
    agent asks for themselves; admins and services for anyone. 204 when nothing waits; 409
    when work waits only where they are full."""
    if principal.role == "agent" and principal.agent_id != agent_id:
        raise Forbidden("an agent asks for their own next ticket")
    ticket = await take_next(
        request.app.state.engine,
        request.app.state.ticket_api,
        agent_id,
        request.app.state.clock.now(),
    )
    if ticket is None:
        return Response(status_code=204)
    return JsonResponse(
        {
            "ticket_id": str(ticket.id),
            "department_id": str(ticket.department_id),
            "channel": ticket.channel,
            "version": ticket.version,
        }
    )


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Admin and service keys accept on an agent's behalf; an agent key accepts for itself.
    agent_id: uuid.UUID | None = None


@router.get("/agents/{agent_id}/offers")
async def agent_offers(
    agent_id: uuid.UUID, session: Session, principal: Principal = AnyRole
) -> JsonResponse:
    """The offers open to the agent (ring all), oldest first."""
    if principal.role == "agent" and principal.agent_id != agent_id:
        raise Forbidden("an agent sees their own offers")
    offers = await open_offers(session, agent_id)
    items = [
        {
            "id": str(o.id),
            "ticket_id": str(o.ticket_id),
            "department_id": str(o.department_id),
            "channel": o.channel,
            "offered_at": o.offered_at.isoformat(),
            "expires_at": o.expires_at.isoformat(),
        }
        for o in offers
    ]
    return JsonResponse({"items": items})


@router.post("/offers/{offer_id}/accept")
async def accept(
    offer_id: uuid.UUID,
    request: Request,
    data: AcceptIn | None = None,
    principal: Principal = AnyRole,
) -> JsonResponse:
    """Take an offered ticket: the first agent to accept gets it, the others get 409."""
    if principal.role == "agent":
        if principal.agent_id is None or (data and data.agent_id not in (None, principal.agent_id)):
            raise Forbidden("an agent accepts offers for themselves")
        agent_id = principal.agent_id
    elif data is None or data.agent_id is None:
        raise Unprocessable("agent_id: say which agent accepts the offer")
    else:
        agent_id = data.agent_id
    ticket_id = await accept_offer(
        request.app.state.engine,
        request.app.state.ticket_api,
        offer_id,
        agent_id,
        request.app.state.clock.now(),
    )
    return JsonResponse({"ticket_id": str(ticket_id), "agent_id": str(agent_id)})


@router.post("/offers/expire")
async def expire(request: Request, session: Session, _: Principal = AdminOnly) -> JsonResponse:
    """Expire the offers whose time is up now. The API processes do this on their own every
    ``ROUTER_OFFER_CHECK_SECONDS``; this is for operators and tests that drive the clock."""
    expired = await expire_offers(session, request.app.state.topics, request.app.state.clock.now())
    return JsonResponse({"expired": expired})
