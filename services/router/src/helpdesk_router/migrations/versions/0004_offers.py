"""ring all offers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("agent_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer")),
        schema="routing",
    )
    op.create_index(
        "ix_offer_open",
        "offer",
        ["expires_at"],
        schema="routing",
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index("ix_offer_ticket", "offer", ["ticket_id"], schema="routing")
    op.create_index(
        "ix_offer_offered_at", "offer", ["offered_at"], schema="routing", postgresql_using="brin"
    )


def downgrade() -> None:
    op.drop_table("offer", schema="routing")
