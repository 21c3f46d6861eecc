"""Tables of the ``rules`` schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from helpdesk_events import consumer_tables, outbox_tables
from helpdesk_service.table_mixins import RuleDefinition, TicketLog
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

OUTBOX = outbox_tables(Base.metadata)
# The worker prunes processed marks by age (retention.py): a block-range index on their
# time (migration 0006).
CONSUMER = consumer_tables(Base.metadata, pruned_by_age=True)


class Rule(RuleDefinition, Base):
    __tablename__ = "rule"
    __table_args__ = (Index("ix_rule_kind_position", "kind", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # "action" rules react to triggers; "sla" rules set the SLA level of new tickets first.
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    # A shadow rule records what it would have done without doing it.
    shadow: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    position: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(50))


class RuleSetVersion(Base):
    """One row, bumped on every rule change, so every instance knows to recompile."""

    __tablename__ = "rule_set_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class RuleFiring(Base):
    """The loop guard: a rule fires at most once per originating change (correlation id)."""

    __tablename__ = "rule_firing"
    __table_args__ = (Index("ix_rule_firing_fired_at", "fired_at", postgresql_using="brin"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    correlation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Evaluation(TicketLog, Base):
    """What the engine decided for one event: per rule, the outcome and the condition trace."""

    __tablename__ = "evaluation"
    __written_at__ = "evaluated_at"

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(100))
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    correlation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    depth: Mapped[int] = mapped_column(Integer)
    triggers: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    # Entries that say more than "did not match", each with its ``index`` in evaluation
    # order (rows from before migration 0004: every entry, in order, without ``index``).
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # The rules that did not match, in order, filling the indexes ``results`` leaves free:
    # id (16 bytes each, one after the other), name and the ticket version each saw (their
    # traces are recomputed on request).
    not_matched: Mapped[bytes | None] = mapped_column(LargeBinary)
    not_matched_names: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    not_matched_versions: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    # The inactive rules this event would have run (16-byte ids, one after the other): a
    # trace for each without a row or an entry per rule.
    inactive: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The ticket snapshots the rules saw, by version, and what the event changed.
    tickets: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


NOT_MATCHED = "no condition group held"


def evaluation_results(row: Evaluation) -> list[dict[str, Any]]:
    """Every candidate's result in evaluation order, whichever way the row stores them.

    Entries rebuilt from the not-matched arrays carry no ``kind`` and no trace; the
    evaluations endpoint adds both from the rule as it is now."""
    if row.not_matched is None:
        return list(row.results)
    placed = {entry["index"]: entry for entry in row.results}
    ids = not_matched_ids(row.not_matched)
    rest = zip(ids, row.not_matched_names or (), row.not_matched_versions or (), strict=True)
    out: list[dict[str, Any]] = []
    for index in range(len(row.results) + len(ids)):
        entry = placed.get(index)
        if entry is not None:
            out.append({k: v for k, v in entry.items() if k != "index"})
            continue
        rule_id, name, version = next(rest)
        out.append(
            {
                "rule_id": str(rule_id),
                "rule_name": name,
                "ticket_version": version,
                "outcome": "not_matched",
                "reason": NOT_MATCHED,
            }
        )
    return out


INACTIVE = "the rule was inactive when the event came"


def inactive_results(row: Evaluation) -> list[dict[str, Any]]:
    """An entry for each rule that was inactive for this event (its name: see the rule)."""
    return [
        {"rule_id": str(rule_id), "outcome": "inactive", "reason": INACTIVE}
        for rule_id in not_matched_ids(row.inactive or b"")
    ]


def not_matched_ids(packed: bytes) -> list[uuid.UUID]:
    """The ids of ``Evaluation.not_matched``, in order."""
    return [uuid.UUID(bytes=bytes(packed[i : i + 16])) for i in range(0, len(packed), 16)]
