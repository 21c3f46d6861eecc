"""/v1/agents/{agent_id}/notifications (the in-app list, read/unread),
/v1/agents/{agent_id}/stream (the same, live, as server-sent events),
/v1/agents/{agent_id}/preferences and /v1/agents/{agent_id}/channels/slack. An agent
reaches only their own (``me`` stands for the caller); an admin reaches everyone's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from helpdesk_service.auth import Principal, require
from helpdesk_service.db import Session
from helpdesk_service.errors import Forbidden, NotFound, Unprocessable
from helpdesk_service.responses import JsonResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..delivery.ssrf import UnsafeUrl, resolve
from ..models import AgentChannel, AgentNotification, AgentPreference
from .kinds import DEFAULTS, Channel, Kind
from .stream import NotificationListener

router = APIRouter(prefix="/v1/agents", tags=["agent notifications"])
AdminOrAgent = Depends(require("admin", "agent"))


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


# Read from the table per wake-up, oldest first: a backlog after a long disconnection comes
# in pages of this many.
_STREAM_PAGE = 100


@router.get(
    "/{agent}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_notifications(
    agent: str,
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(description="the id of the last event seen: the stream replays what came after"),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, description="as Last-Event-ID, for a first connection that cannot set it"),
    ] = None,
    principal: Principal = AdminOrAgent,
) -> StreamingResponse:
    """The agent's in-app notifications as server-sent events (``event: notification``,
    ``id:`` the notification's id, ``data:`` as in the list), oldest first. Reconnecting
    with ``Last-Event-ID`` replays those after it, then goes on live; without it the stream
    starts with the next notification. A comment line every few seconds keeps proxies from
    closing an idle stream."""
    agent_id = _agent(agent, principal)
    if last_event_id is not None:
        try:
            after = int(last_event_id)
        except ValueError:
            raise Unprocessable(
                f"Last-Event-ID: {last_event_id!r} is not a notification id (an integer)"
            ) from None
    state = request.app.state
    listener: NotificationListener = state.notification_listener
    sessions = state.sessions
    if after is None:
        async with sessions() as session:
            after = await session.scalar(
                select(func.coalesce(func.max(AgentNotification.id), 0)).where(
                    AgentNotification.agent_id == agent_id
                )
            )

    async def events(seen: int) -> AsyncIterator[str]:
        with listener.subscribe(agent_id) as woken:
            # Sent at once, so the client knows the stream is open (and subscribed).
            yield ": stream open\n\n"
            while True:
                woken.clear()
                async with sessions() as session:
                    page = (
                        await session.scalars(
                            select(AgentNotification)
                            .where(
                                AgentNotification.agent_id == agent_id,
                                AgentNotification.id > seen,
                            )
                            .order_by(AgentNotification.id)
                            .limit(_STREAM_PAGE)
                        )
                    ).all()
                for row in page:
                    data = NotificationOut.model_validate(row).model_dump_json()
                    yield f"id: {row.id}\nevent: notification\ndata: {data}\n\n"
                    seen = row.id
                if len(page) == _STREAM_PAGE:
                    continue
                # The table is read again only when woken: no polling.
                while not woken.is_set():
                    try:
                        await asyncio.wait_for(woken.wait(), state.stream_heartbeat_seconds)
                    except TimeoutError:
                        yield ": heartbeat\n\n"

    return StreamingResponse(
        events(after or 0),
        media_type="text/event-stream",
        # No buffering or transformation on the way (nginx honours X-Accel-Buffering).
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


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
