"""The inactive rules each evaluation would have run, as 16-byte ids (like not_matched)

"Why did rule X not fire?" has an answer when X was inactive: the evaluation row lists the
inactive rules the event would have run, in one bytea, instead of a row or an entry per
rule and event.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("evaluation", sa.Column("inactive", sa.LargeBinary()), schema="rules")


def downgrade() -> None:
    op.drop_column("evaluation", "inactive", schema="rules")
