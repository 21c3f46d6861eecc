"""waiting work handed out by SLA due date: each ticket's due date, and the queue index in
that order (nearest due date first, none last, then oldest)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this revision have no due date until their ticket's next event.
    op.add_column("ticket", sa.Column("sla_due_at", sa.DateTime(timezone=True)), schema="routing")
    _queue_index(["department_id", "sla_due_at", "created_at", "id"])


def downgrade() -> None:
    _queue_index(["department_id", "created_at", "id"])
    op.drop_column("ticket", "sla_due_at", schema="routing")


def _queue_index(columns: list[str]) -> None:
    op.drop_index("ix_ticket_queue", table_name="ticket", schema="routing")
    op.create_index(
        "ix_ticket_queue",
        "ticket",
        columns,
        schema="routing",
        postgresql_where=sa.text("state = 'waiting'"),
    )
