"""Column groups that several services' tables declare alike, written once.

A mixin goes first among a model's bases (``class Rule(RuleDefinition, Base)``). Its
columns come after the model's own in the table (SQLAlchemy's order for inherited
columns), unless a ``sort_order`` below puts one first: the tables stay as their
migrations made them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


class RuleDefinition:
    """What every kind of rule stores (action rules in rule-engine, time rules in the
    scheduler; ``helpdesk_rule_actions.editing`` writes them): the conditions it matches,
    the actions it takes, when it was created and last edited, and what a firing found
    broken."""

    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # ticket-api's message when a firing found a department or agent the rule names gone
    # since it was saved; cleared when the rule's actions change.
    broken_reference: Mapped[str | None] = mapped_column(Text)


class TicketLog:
    """A log of what a service decided about tickets, one row per decision: numbered in
    the order written (``id``, first in the table), read a ticket at a time in that order
    (``ix_<table>_ticket`` on ``ticket_id``, which the model declares), and forgotten by
    age. Rows are written in time order and never updated, so a block-range index on the
    time column the model names in ``__written_at__`` finds the old end for retention."""

    __tablename__: str
    __written_at__: ClassVar[str]

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True, sort_order=-1)

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Index, ...]:
        table, written_at = cls.__tablename__, cls.__written_at__
        return (
            Index(f"ix_{table}_ticket", "ticket_id", "id"),
            Index(f"ix_{table}_{written_at}", written_at, postgresql_using="brin"),
        )
