"""routing state: agents, tickets (loads are counted from them), explained decisions

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
    op.create_table(
        "agent",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("department_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("availability", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent")),
        schema="routing",
    )
    op.create_table(
        "ticket",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_routing", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket")),
        schema="routing",
    )
    op.create_index(
        "ix_ticket_load",
        "ticket",
        ["agent_id", "channel"],
        schema="routing",
        postgresql_where=sa.text("state = 'assigned'"),
    )
    op.create_index(
        "ix_ticket_turns", "ticket", ["agent_id", "channel", "assigned_at"], schema="routing"
    )
    op.create_index(
        "ix_ticket_queue",
        "ticket",
        ["department_id", "created_at", "id"],
        schema="routing",
        postgresql_where=sa.text("state = 'waiting'"),
    )
    op.create_table(
        "decision",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("candidates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision")),
        schema="routing",
    )
    op.create_index("ix_decision_ticket", "decision", ["ticket_id", "id"], schema="routing")
    op.create_index(
        "ix_decision_decided_at",
        "decision",
        ["decided_at"],
        schema="routing",
        postgresql_using="brin",
    )
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        schema="routing",
        postgresql_using="brin",
    )


def downgrade() -> None:
    op.drop_index("ix_processed_event_processed_at", table_name="processed_event", schema="routing")
    op.drop_table("decision", schema="routing")
    op.drop_table("ticket", schema="routing")
    op.drop_table("agent", schema="routing")
