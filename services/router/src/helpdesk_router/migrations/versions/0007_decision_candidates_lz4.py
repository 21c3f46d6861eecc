"""decisions' candidates compressed with lz4 where the server has it: every decision
stores its candidates' verdicts (about 3 kB of jsonb for 20 candidates), and pglz, the
default, costs PostgreSQL more CPU per decision than lz4 for about the same size

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whether this server was built with lz4 (default_toast_compression then offers it).
_HAS_LZ4 = sa.text(
    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
)


def upgrade() -> None:
    # Values stored before keep their compression until they are written again.
    if op.get_bind().scalar(_HAS_LZ4):
        op.execute("ALTER TABLE routing.decision ALTER COLUMN candidates SET COMPRESSION lz4")


def downgrade() -> None:
    op.execute("ALTER TABLE routing.decision ALTER COLUMN candidates SET COMPRESSION default")
