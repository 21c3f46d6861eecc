"""Routing policies (per department and channel) and agent routing profiles (per agent and
channel): what is stored, what applies when nothing is, and what an admin may set.

Channels here are the ones agents are available on (e-mail, chat, call, social): a ticket
routes on the channel that serves it, as its agent's availability does in ticket-api
(web forms, the API, the portal and offline messages are e-mail work; every social network
is social work).

Defaults make a new department work with no configuration: chats are pushed to the least
loaded agent, calls to a random one, and everything else (e-mail, social, forms…) waits in
the department's "to solve" queue for an agent to take it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar, cast

from helpdesk_events.vocabulary import SOCIAL_CHANNELS
from helpdesk_service.errors import Unprocessable
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import AgentChannelProfile, RoutingPolicy
from .choice import Method

# A row stored for one channel: a department's policy or an agent's profile.
StoredT = TypeVar("StoredT", RoutingPolicy, AgentChannelProfile)
AppliedT = TypeVar("AppliedT")

RoutingChannel = Literal["email", "chat", "call", "social"]
ROUTING_CHANNELS: tuple[RoutingChannel, ...] = ("email", "chat", "call", "social")
Distribution = Literal["push", "pull"]
# Live channels: someone is waiting on the line, so the ticket is offered, not queued.
LIVE_CHANNELS = ("chat", "call")
CALL_METHODS: tuple[Method, ...] = ("random", "priority", "ring_all")
DEFAULT_OFFER_TIMEOUT_SECONDS = 30
DEFAULT_PRIORITY = 1
DEFAULT_MAX_LOAD = {"chat": 3, "call": 1}
DEFAULT_MAX_LOAD_OTHER = 20


@dataclass(frozen=True)
class Policy:
    method: Method
    distribution: Distribution
    offer_timeout_seconds: int
    configured: bool


@dataclass(frozen=True)
class Profile:
    priority: int
    max_load: int
    configured: bool


def routing_channel(ticket_channel: str) -> RoutingChannel:
    """The channel a ticket of ``ticket_channel`` is routed on."""
    if ticket_channel == "chat":
        return "chat"
    if ticket_channel == "call":
        return "call"
    if ticket_channel in SOCIAL_CHANNELS:
        return "social"
    return "email"


def default_policy(channel: str) -> Policy:
    if channel == "chat":
        return Policy("average_utilization", "push", DEFAULT_OFFER_TIMEOUT_SECONDS, False)
    if channel == "call":
        return Policy("random", "push", DEFAULT_OFFER_TIMEOUT_SECONDS, False)
    return Policy("round_robin", "pull", DEFAULT_OFFER_TIMEOUT_SECONDS, False)


def default_profile(channel: str) -> Profile:
    return Profile(DEFAULT_PRIORITY, DEFAULT_MAX_LOAD.get(channel, DEFAULT_MAX_LOAD_OTHER), False)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyIn(_Strict):
    method: Method
    distribution: Distribution = "push"
    offer_timeout_seconds: int = Field(default=DEFAULT_OFFER_TIMEOUT_SECONDS, ge=5, le=3600)


class PolicyOut(BaseModel):
    channel: str
    method: str
    distribution: str
    offer_timeout_seconds: int
    # False: no policy was set for this channel and the default applies.
    configured: bool


class ProfileIn(_Strict):
    priority: int = Field(ge=1, le=100, description="1 is the highest priority, 100 the lowest")
    max_load: int = Field(ge=1, le=1000, description="tickets of this channel at once")


class ProfileOut(BaseModel):
    channel: str
    priority: int
    max_load: int
    configured: bool


def check_policy(channel: str, data: PolicyIn) -> None:
    """A 422 for a policy that cannot work on ``channel``."""
    if channel == "call" and data.method not in CALL_METHODS:
        raise Unprocessable(
            f"method: {data.method} cannot route calls; use one of {', '.join(CALL_METHODS)}"
        )
    if data.method == "priority" and channel != "call":
        raise Unprocessable(
            f"method: priority routes calls; for {channel} use round_robin, "
            "average_utilization, max_utilization or random"
        )
    if data.method == "ring_all" and channel not in LIVE_CHANNELS:
        raise Unprocessable(
            f"method: ring_all offers live conversations (chat, call), not {channel} tickets; "
            "use round_robin, average_utilization, max_utilization or random"
        )
    if data.method == "ring_all" and data.distribution == "pull":
        raise Unprocessable(
            "distribution: ring_all offers every ticket as it arrives; use distribution push"
        )


async def department_policies(session: AsyncSession, department_id: uuid.UUID) -> dict[str, Policy]:
    """The policy that applies to each channel of the department, defaults included."""
    rows = await session.scalars(
        select(RoutingPolicy).where(RoutingPolicy.department_id == department_id)
    )
    return _on_every_channel(rows, _policy)


def _policy(row: RoutingPolicy | None, channel: str) -> Policy:
    if row is None:
        return default_policy(channel)
    return Policy(
        cast(Method, row.method),
        cast(Distribution, row.distribution),
        row.offer_timeout_seconds,
        True,
    )


async def agent_profiles(session: AsyncSession, agent_id: uuid.UUID) -> dict[str, Profile]:
    """The agent's priority and maximum load on each channel, defaults included."""
    rows = await session.scalars(
        select(AgentChannelProfile).where(AgentChannelProfile.agent_id == agent_id)
    )
    return _on_every_channel(rows, _profile)


def _profile(row: AgentChannelProfile | None, channel: str) -> Profile:
    if row is None:
        return default_profile(channel)
    return Profile(row.priority, row.max_load, True)


def _on_every_channel(
    rows: Iterable[StoredT], applies: Callable[[StoredT | None, str], AppliedT]
) -> dict[str, AppliedT]:
    """What ``applies`` on every routing channel, from the rows stored for some of them."""
    stored = {row.channel: row for row in rows}
    return {channel: applies(stored.get(channel), channel) for channel in ROUTING_CHANNELS}


async def put_policy(
    session: AsyncSession,
    department_id: uuid.UUID,
    channel: str,
    data: PolicyIn,
    now: datetime,
) -> None:
    row = await session.get(RoutingPolicy, (department_id, channel))
    if row is None:
        row = RoutingPolicy(department_id=department_id, channel=channel)
        session.add(row)
    row.method = data.method
    row.distribution = data.distribution
    row.offer_timeout_seconds = data.offer_timeout_seconds
    row.updated_at = now


async def put_profile(
    session: AsyncSession, agent_id: uuid.UUID, channel: str, data: ProfileIn, now: datetime
) -> None:
    row = await session.get(AgentChannelProfile, (agent_id, channel))
    if row is None:
        row = AgentChannelProfile(agent_id=agent_id, channel=channel)
        session.add(row)
    row.priority = data.priority
    row.max_load = data.max_load
    row.updated_at = now
