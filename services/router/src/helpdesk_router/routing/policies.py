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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar, cast

from helpdesk_events.vocabulary import AVAILABILITY_CHANNELS, SOCIAL_CHANNELS, AvailabilityChannel
from helpdesk_service.errors import Unprocessable
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ..models import AgentChannelProfile, RoutingPolicy
from .choice import Method

# A row stored for one channel: a department's policy or an agent's profile.
StoredT = TypeVar("StoredT", RoutingPolicy, AgentChannelProfile)
AppliedT = TypeVar("AppliedT")

# A router keeps its policies and profiles per availability channel.
RoutingChannel = AvailabilityChannel
ROUTING_CHANNELS = AVAILABILITY_CHANNELS
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


@dataclass(frozen=True)
class PerChannel(Generic[StoredT, AppliedT]):
    """What is stored per owner (a department, an agent) and routing channel, and what
    applies where nothing is."""

    model: type[StoredT]
    # The owner's column of ``model``, the first of its primary key (the channel is next).
    owner: InstrumentedAttribute[uuid.UUID]
    stored: Callable[[StoredT], AppliedT]
    default: Callable[[str], AppliedT]

    async def applied(self, session: AsyncSession, owner_id: uuid.UUID) -> dict[str, AppliedT]:
        """What applies on every routing channel, defaults included."""
        rows = await session.scalars(select(self.model).where(self.owner == owner_id))
        stored = {row.channel: self.stored(row) for row in rows}
        return {
            channel: stored[channel] if channel in stored else self.default(channel)
            for channel in ROUTING_CHANNELS
        }

    async def stored_row(
        self, session: AsyncSession, owner_id: uuid.UUID, channel: str, now: datetime
    ) -> StoredT:
        """The row stored for the owner's ``channel`` (added if there is none), to change;
        stamped ``now``."""
        row = await session.get(self.model, (owner_id, channel))
        if row is None:
            row = self.model(**{self.owner.key: owner_id}, channel=channel)
            session.add(row)
        row.updated_at = now
        return row

    async def reset(self, session: AsyncSession, owner_id: uuid.UUID, channel: str) -> None:
        """Back to the default on ``channel``."""
        await session.execute(
            delete(self.model).where(self.owner == owner_id, self.model.channel == channel)
        )


def _stored_policy(row: RoutingPolicy) -> Policy:
    return Policy(
        cast(Method, row.method),
        cast(Distribution, row.distribution),
        row.offer_timeout_seconds,
        True,
    )


def _stored_profile(row: AgentChannelProfile) -> Profile:
    return Profile(row.priority, row.max_load, True)


# Each department's policy per channel, and each agent's profile per channel.
POLICIES = PerChannel(RoutingPolicy, RoutingPolicy.department_id, _stored_policy, default_policy)
PROFILES = PerChannel(
    AgentChannelProfile, AgentChannelProfile.agent_id, _stored_profile, default_profile
)


async def put_policy(
    session: AsyncSession,
    department_id: uuid.UUID,
    channel: str,
    data: PolicyIn,
    now: datetime,
) -> None:
    row = await POLICIES.stored_row(session, department_id, channel, now)
    row.method = data.method
    row.distribution = data.distribution
    row.offer_timeout_seconds = data.offer_timeout_seconds


async def put_profile(
    session: AsyncSession, agent_id: uuid.UUID, channel: str, data: ProfileIn, now: datetime
) -> None:
    row = await PROFILES.stored_row(session, agent_id, channel, now)
    row.priority = data.priority
    row.max_load = data.max_load
