"""pending assignments: a decision reserves the slot and commits before the write-back

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_assignment",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("expected_version", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("actor_name", sa.Text(), nullable=False),
        sa.Column("moves_department", sa.Boolean(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("decision_id", sa.BigInteger(), nullable=False),
        sa.Column("causation_id", sa.Uuid(), nullable=True),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_pending_assignment")),
        schema="routing",
    )
    # A decision reads its department's agents.
    op.create_index(
        "ix_agent_departments",
        "agent",
        ["department_ids"],
        schema="routing",
        postgresql_using="gin",
    )
    # Reserved tickets count in their agent's load like assigned ones.
    op.drop_index("ix_ticket_load", table_name="ticket", schema="routing")
    op.create_index(
        "ix_ticket_load",
        "ticket",
        ["agent_id", "channel"],
        schema="routing",
        postgresql_where=sa.text("state IN ('assigned', 'reserved')"),
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_load", table_name="ticket", schema="routing")
    op.create_index(
        "ix_ticket_load",
        "ticket",
        ["agent_id", "channel"],
        schema="routing",
        postgresql_where=sa.text("state = 'assigned'"),
    )
    op.drop_index("ix_agent_departments", table_name="agent", schema="routing")
    op.drop_table("pending_assignment", schema="routing")
