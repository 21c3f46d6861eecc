"""evaluations keep the tickets the rules saw

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "evaluation", sa.Column("tickets", postgresql.JSONB(), nullable=True), schema="rules"
    )
    op.add_column(
        "evaluation", sa.Column("changes", postgresql.JSONB(), nullable=True), schema="rules"
    )


def downgrade() -> None:
    op.drop_column("evaluation", "changes", schema="rules")
    op.drop_column("evaluation", "tickets", schema="rules")
