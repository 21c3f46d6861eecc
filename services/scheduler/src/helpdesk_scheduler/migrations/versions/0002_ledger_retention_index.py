"""index: settled ledger rows by episode anchor, the ticker's retention prune

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 02:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows are updated when settled and anchors arrive out of order, so a btree, not BRIN.
    op.create_index(
        "ix_firing_settled_anchor",
        "firing",
        ["anchor"],
        schema="scheduler",
        postgresql_where=sa.text("settled_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_firing_settled_anchor", table_name="firing", schema="scheduler")
