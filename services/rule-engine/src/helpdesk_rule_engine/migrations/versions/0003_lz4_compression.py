"""lz4 for the large JSON the worker writes on every event

Every evaluation stores a result per candidate rule (about 18 kB for 100 rules) and the
tickets the rules saw; with PostgreSQL's default pglz, compressing them cost the database
more than the rest of the insert. lz4 does the same job at about a third of the CPU. A
server built without lz4 keeps pglz.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op
from helpdesk_service.migrations import compression_sql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {"evaluation": ["results", "tickets", "changes"], "outbox": ["payload"]}


def upgrade() -> None:
    op.execute(compression_sql("rules", COLUMNS, "lz4"))


def downgrade() -> None:
    op.execute(compression_sql("rules", COLUMNS, "pglz"))
