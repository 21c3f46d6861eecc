"""/v1/agents/{agent_id}/notifications (the in-app list, read/unread),
/v1/agents/{agent_id}/preferences and /v1/agents/{agent_id}/channels/slack. An agent
reaches only their own (``me`` stands for the caller); an admin reaches everyone's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from helpdesk_service.auth import Principal, require
from helpdesk_service.errors import Forbidden, NotFound, Unprocessable
from helpdesk_service.responses import JsonResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..delivery.ssrf import UnsafeUrl, resolve
from ..models import AgentChannel, AgentNotification, AgentPreference
from .kinds import DEFAULTS, Channel, Kind

router = APIRouter(prefix="/v1/agents", tags=["agent notifications"])
AdminOrAgent = Depends(require("admin", "agent"))


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(_session)]


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    ticket_id: uuid.UUID | None
    title: str
    created_at: datetime
    read_at: datetime | None


class Preference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    channel: Channel
    enabled: bool


def _agent(agent: str, principal: Principal) -> uuid.UUID:
    """The agent the path names; ``me`` is the caller. Agents see only themselves."""
    if agent == "me":
        if principal.agent_id is None:
            raise NotFound("this key belongs to no agent: name the agent in the path")
        return principal.agent_id
    try:
        agent_id = uuid.UUID(agent)
    except ValueError:
        raise NotFound(f"agent: {agent!r} is neither 'me' nor an agent id") from None
    if principal.role != "admin" and agent_id != principal.agent_id:
        raise Forbidden("an agent reaches only their own notifications and preferences")
    return agent_id


@router.get("/{agent}/notifications", response_model=list[NotificationOut])
async def list_notifications(
    agent: str,
    session: Session,
    unread: bool = False,
    after: Annotated[int | None, Query(description="only notifications after this id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    principal: Principal = AdminOrAgent,
) -> JsonResponse:
    """Newest first."""
    agent_id = _agent(agent, principal)
    query = (
        select(AgentNotification)
        .where(AgentNotification.agent_id == agent_id)
        .order_by(AgentNotification.id.desc())
        .limit(limit)
    )
    if unread:
        query = query.where(AgentNotification.read_at.is_(None))
    if after is not None:
        query = query.where(AgentNotification.id > after)
    rows = (await session.scalars(query)).all()
    return JsonResponse([NotificationOut.model_validate(r).model_dump(mode="json") for r in rows])


@router.post("/{agent}/notifications/{notification_id}/read", response_model=NotificationOut)
async def mark_read(
    agent: str,
    notification_id: int,
    request: Request,
    session: Session,
    principal: Principal = AdminOrAgent,
) -> JsonResponse:
    agent_id = _agent(agent, principal)
    row = await session.get(AgentNotification, notification_id)
    if row is None or row.agent_id != agent_id:
        raise NotFound(f"agent {agent_id} has no notification {notification_id}")
    if row.read_at is None:
        row.read_at = request.app.state.clock.now()
        await session.commit()
    return JsonResponse(NotificationOut.model_validate(row).model_dump(mode="json"))


async def _preferences(session: AsyncSession, agent_id: uuid.UUID) -> list[dict[str, Any]]:
    chosen = {
        (p.kind, p.channel): p.enabled
        for p in (
            await session.scalars(
                select(AgentPreference).where(AgentPreference.agent_id == agent_id)
            )
        ).all()
    }
    return [
        {"kind": kind, "channel": channel, "enabled": chosen.get((kind, channel), default)}
        for (kind, channel), default in DEFAULTS.items()
    ]


@router.get("/{agent}/preferences", response_model=list[Preference])
async def get_preferences(
    agent: str, session: Session, principal: Principal = AdminOrAgent
) -> JsonResponse:
    """Every kind on every channel, with the default where the agent chose nothing."""
    return JsonResponse(await _preferences(session, _agent(agent, principal)))


@router.put("/{agent}/preferences", response_model=list[Preference])
async def set_preferences(
    agent: str,
    changes: list[Preference],
    session: Session,
    principal: Principal = AdminOrAgent,
) -> JsonResponse:
    """Set the given kinds/channels; the others keep their value."""
    agent_id = _agent(agent, principal)
    for change in changes:
        await session.execute(
            insert(AgentPreference)
            .values(agent_id=agent_id, **change.model_dump())
            .on_conflict_do_update(
                index_elements=["agent_id", "kind", "channel"],
                set_={"enabled": change.enabled},
            )
        )
    await session.commit()
    return JsonResponse(await _preferences(session, agent_id))


class SlackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="The agent's Slack incoming-webhook URL.")


@router.put("/{agent}/channels/slack", response_model=SlackIn)
async def set_slack(
    agent: str,
    data: SlackIn,
    request: Request,
    session: Session,
    principal: Principal = AdminOrAgent,
) -> JsonResponse:
    """Where Slack messages reach the agent (checked against the SSRF guard now, and again
    at every send). Turn kinds on for the ``slack`` channel in the preferences."""
    agent_id = _agent(agent, principal)
    try:
        await resolve(data.url, request.app.state.allowed_networks)
    except UnsafeUrl as error:
        raise Unprocessable(f"url: {error}") from None
    await session.execute(
        insert(AgentChannel)
        .values(agent_id=agent_id, channel="slack", address=data.url)
        .on_conflict_do_update(index_elements=["agent_id", "channel"], set_={"address": data.url})
    )
    await session.commit()
    return JsonResponse({"url": data.url})
