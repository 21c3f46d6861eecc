"""clocks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 22:40:00.000000
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
    op.create_table(
        "clock",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_code", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("level_name", sa.String(length=100), nullable=False),
        sa.Column("level_version", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.Column("calendar_version", sa.Integer(), nullable=True),
        sa.Column("target_minutes", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pauses", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("paused_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("business_minutes", sa.Float(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("history", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clock")),
        schema="sla",
    )
    op.create_index("ix_clock_ticket", "clock", ["ticket_id"], unique=False, schema="sla")
    op.create_index(
        "ix_clock_open_due",
        "clock",
        ["due_at"],
        unique=False,
        schema="sla",
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_index(
        "ix_clock_open_level",
        "clock",
        ["level_name"],
        unique=False,
        schema="sla",
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_clock_open_level", table_name="clock", schema="sla")
    op.drop_index("ix_clock_open_due", table_name="clock", schema="sla")
    op.drop_index("ix_clock_ticket", table_name="clock", schema="sla")
    op.drop_table("clock", schema="sla")
