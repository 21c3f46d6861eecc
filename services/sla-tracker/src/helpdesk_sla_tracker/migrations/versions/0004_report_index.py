"""reports: clocks by start

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_clock_started_at", "clock", ["started_at"], unique=False, schema="sla")


def downgrade() -> None:
    op.drop_index("ix_clock_started_at", table_name="clock", schema="sla")
