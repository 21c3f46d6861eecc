"""reports: clocks by start, by agent and start, by department and start

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


_INDEXES = {
    "ix_clock_started_at": ["started_at", "id"],
    "ix_clock_agent_started_at": ["agent_id", "started_at", "id"],
    "ix_clock_department_started_at": ["department_id", "started_at", "id"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "clock", columns, unique=False, schema="sla")


def downgrade() -> None:
    for name in reversed(_INDEXES):
        op.drop_index(name, table_name="clock", schema="sla")
