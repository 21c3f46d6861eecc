"""Tables of the ``routing`` schema."""

from __future__ import annotations

from helpdesk_events import consumer_tables, outbox_tables

from .db import Base

OUTBOX = outbox_tables(Base.metadata)
CONSUMER = consumer_tables(Base.metadata)
