"""warnings and breaches: clock columns, the scan's indexes, ticket snapshots

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("warn_at", "warned_at", "breached_at"):
        op.add_column("clock", sa.Column(column, sa.DateTime(timezone=True)), schema="sla")
    op.create_index(
        "ix_clock_breach_pending",
        "clock",
        ["due_at"],
        unique=False,
        schema="sla",
        postgresql_where=sa.text("state = 'running' AND breached_at IS NULL"),
    )
    op.create_index(
        "ix_clock_warning_pending",
        "clock",
        ["warn_at"],
        unique=False,
        schema="sla",
        postgresql_where=sa.text("state = 'running' AND warned_at IS NULL"),
    )
    op.create_table(
        "ticket_state",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_state")),
        schema="sla",
    )


def downgrade() -> None:
    op.drop_table("ticket_state", schema="sla")
    op.drop_index("ix_clock_warning_pending", table_name="clock", schema="sla")
    op.drop_index("ix_clock_breach_pending", table_name="clock", schema="sla")
    for column in ("breached_at", "warned_at", "warn_at"):
        op.drop_column("clock", column, schema="sla")
