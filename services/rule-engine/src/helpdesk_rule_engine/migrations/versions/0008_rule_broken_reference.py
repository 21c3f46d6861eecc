"""rule.broken_reference: what a rule refers to that no longer exists

A rule's references are checked when it is saved; a department or agent deleted later is
found when the rule fires (ticket-api refuses the write-back with unknown_reference). The
worker records ticket-api's message on the rule, so the rule shows it until its actions
are changed.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rule", sa.Column("broken_reference", sa.Text()), schema="rules")


def downgrade() -> None:
    op.drop_column("rule", "broken_reference", schema="rules")
