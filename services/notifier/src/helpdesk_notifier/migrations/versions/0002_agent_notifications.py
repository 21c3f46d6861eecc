"""agent notifications: the in-app list and preferences

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_notification",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_notification")),
        sa.UniqueConstraint(
            "event_id", "agent_id", "kind", name=op.f("uq_agent_notification_event_id")
        ),
        schema="notify",
    )
    op.create_index(
        "ix_agent_notification_agent",
        "agent_notification",
        ["agent_id", "id"],
        unique=False,
        schema="notify",
    )
    op.create_table(
        "agent_preference",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "kind", "channel", name=op.f("pk_agent_preference")),
        schema="notify",
    )


def downgrade() -> None:
    op.drop_table("agent_preference", schema="notify")
    op.drop_index("ix_agent_notification_agent", table_name="agent_notification", schema="notify")
    op.drop_table("agent_notification", schema="notify")
