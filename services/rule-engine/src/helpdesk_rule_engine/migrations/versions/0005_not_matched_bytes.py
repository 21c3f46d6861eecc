"""Rules that did not match: their ids as 16 bytes each instead of a uuid[]

PostgreSQL parses a uuid[] of a hundred elements from text in about 125 µs more than it
takes to store the same ids as one bytea (measured, per insert); the worker writes one such
list for every event, so this was the largest single cost of its statement. The column
keeps its name and meaning (the ids, in evaluation order); only its type changes.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpdesk_service.migrations import compression_sql
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("evaluation", sa.Column("not_matched_ids", sa.LargeBinary()), schema="rules")
    # An empty list stays an empty value, not NULL (NULL marks the older all-JSON rows).
    op.execute(
        """
        UPDATE rules.evaluation e SET not_matched_ids = COALESCE(
            (SELECT string_agg(uuid_send(u), ''::bytea ORDER BY o)
             FROM unnest(e.not_matched) WITH ORDINALITY AS t(u, o)),
            ''::bytea)
        WHERE e.not_matched IS NOT NULL
        """
    )
    op.drop_column("evaluation", "not_matched", schema="rules")
    op.alter_column("evaluation", "not_matched_ids", new_column_name="not_matched", schema="rules")
    op.execute(compression_sql("rules", {"evaluation": ["not_matched"]}, "lz4"))


def downgrade() -> None:
    op.add_column(
        "evaluation", sa.Column("not_matched_ids", postgresql.ARRAY(sa.Uuid())), schema="rules"
    )
    op.execute(
        """
        UPDATE rules.evaluation e SET not_matched_ids = ARRAY(
            SELECT encode(substring(e.not_matched FROM g * 16 + 1 FOR 16), 'hex')::uuid
            FROM generate_series(0, length(e.not_matched) / 16 - 1) AS g
            ORDER BY g)
        WHERE e.not_matched IS NOT NULL
        """
    )
    op.drop_column("evaluation", "not_matched", schema="rules")
    op.alter_column("evaluation", "not_matched_ids", new_column_name="not_matched", schema="rules")
    op.execute(compression_sql("rules", {"evaluation": ["not_matched"]}, "lz4"))
