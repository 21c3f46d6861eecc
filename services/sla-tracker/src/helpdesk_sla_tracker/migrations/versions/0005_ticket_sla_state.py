"""the ticket's SLA state, kept beside its snapshot until written back to ticket-api

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ticket_state", sa.Column("sla_due_at", sa.DateTime(timezone=True)), schema="sla")
    op.add_column(
        "ticket_state",
        sa.Column("sla_late", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="sla",
    )
    for column in ("sla_stamp", "sla_written_stamp"):
        op.add_column(
            "ticket_state",
            sa.Column(column, sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            schema="sla",
        )
    op.create_index(
        "ix_ticket_state_sla_unwritten",
        "ticket_state",
        ["ticket_id"],
        schema="sla",
        postgresql_where=sa.text("sla_stamp > sla_written_stamp"),
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_state_sla_unwritten", table_name="ticket_state", schema="sla")
    for column in ("sla_written_stamp", "sla_stamp", "sla_late", "sla_due_at"):
        op.drop_column("ticket_state", column, schema="sla")
