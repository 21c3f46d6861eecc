"""Tables of the ``routing`` schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from helpdesk_events import consumer_tables, outbox_tables
from sqlalchemy import DateTime, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

OUTBOX = outbox_tables(Base.metadata)
CONSUMER = consumer_tables(Base.metadata)


class RoutingPolicy(Base):
    """How one department distributes one channel's tickets; no row means the default
    (routing/policies.py)."""

    __tablename__ = "policy"

    department_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    method: Mapped[str] = mapped_column(String(30))
    # "push": the router assigns; "pull": tickets wait until an agent asks for the next one.
    distribution: Mapped[str] = mapped_column(String(10))
    offer_timeout_seconds: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgentChannelProfile(Base):
    """An agent's priority and maximum concurrent load on one channel; no row means the
    default (routing/profiles.py)."""

    __tablename__ = "agent_channel_profile"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)
    max_load: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
