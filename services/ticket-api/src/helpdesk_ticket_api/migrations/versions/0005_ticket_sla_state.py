"""the ticket's SLA state, written back by the sla-tracker (set_sla_state)

Revision ID: 0005
Revises: 0004

- ``sla_due_at``: when the ticket's running response clock is due (NULL: none running);
  a b-tree, since rules and searches test it by range ("due within 30 minutes").
- ``sla_late``: whether the ticket's SLA is missed.
- ``sla_stamp``: the stamp of the state last applied; an older write-back changes nothing.

Adding columns with constant defaults rewrites no rows (PostgreSQL 11+).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ticket", sa.Column("sla_due_at", sa.DateTime(timezone=True)), schema="tickets")
    op.add_column(
        "ticket",
        sa.Column("sla_late", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="tickets",
    )
    op.add_column(
        "ticket",
        sa.Column("sla_stamp", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        schema="tickets",
    )
    op.create_index("ix_ticket_sla_due_at", "ticket", ["sla_due_at"], schema="tickets")


def downgrade() -> None:
    op.drop_index("ix_ticket_sla_due_at", table_name="ticket", schema="tickets")
    op.drop_column("ticket", "sla_stamp", schema="tickets")
    op.drop_column("ticket", "sla_late", schema="tickets")
    op.drop_column("ticket", "sla_due_at", schema="tickets")
