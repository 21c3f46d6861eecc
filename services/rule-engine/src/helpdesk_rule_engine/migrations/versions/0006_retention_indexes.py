"""BRIN indexes on the time columns the worker prunes by (retention.py)

``rules.evaluation``, ``rules.processed_event`` and ``rules.rule_firing`` are written in
time order and never updated, so a block-range index finds their old end for a few pages
of index, and costs next to nothing per insert (a b-tree on each would be another index
entry per event on the hot path).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_evaluation_evaluated_at", "evaluation", "evaluated_at"),
    ("ix_processed_event_processed_at", "processed_event", "processed_at"),
    ("ix_rule_firing_fired_at", "rule_firing", "fired_at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], schema="rules", postgresql_using="brin")


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table, schema="rules")
