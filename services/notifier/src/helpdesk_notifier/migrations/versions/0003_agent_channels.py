"""agent channels: where Slack reaches an agent

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_channel",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "channel", name=op.f("pk_agent_channel")),
        schema="notify",
    )


def downgrade() -> None:
    op.drop_table("agent_channel", schema="notify")
