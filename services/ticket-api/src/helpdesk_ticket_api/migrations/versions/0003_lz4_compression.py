"""lz4 for events in the outbox and message bodies

An event carries the whole ticket (about 3 kB), past the size where PostgreSQL compresses a
value; with the default pglz that costs more CPU than the rest of the row, for rows the
relay deletes moments later. lz4 does the same job at about a third of the CPU. A server
built without lz4 keeps pglz.

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

COLUMNS = {"outbox": ["payload"], "message": ["body"]}


def upgrade() -> None:
    op.execute(compression_sql("tickets", COLUMNS, "lz4"))


def downgrade() -> None:
    op.execute(compression_sql("tickets", COLUMNS, "pglz"))
