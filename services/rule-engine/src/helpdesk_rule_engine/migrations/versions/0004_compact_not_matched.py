"""Rules that did not match, stored as arrays instead of one JSON object each

Most candidates of an event do not match. Each used to be a JSON object in
``evaluation.results`` (about 18 kB per event for 100 candidates), and parsing that JSON
was the largest single cost of the worker's transaction in PostgreSQL. They are now three
parallel arrays — rule id, rule name, and the ticket version the rule saw — and
``results`` keeps the entries that say more (fired, shadow, failed, …), each with its
``index`` in evaluation order. Rows written before keep their form; the API reads both.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpdesk_service.migrations import compression_sql
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the evaluation's other large columns (0003): the arrays of 100 candidates pass the
# size at which PostgreSQL compresses a row, and pglz costs about three times lz4's CPU.
COLUMNS = {"evaluation": ["not_matched", "not_matched_names", "not_matched_versions"]}


def upgrade() -> None:
    op.add_column(
        "evaluation", sa.Column("not_matched", postgresql.ARRAY(sa.Uuid())), schema="rules"
    )
    op.add_column(
        "evaluation", sa.Column("not_matched_names", postgresql.ARRAY(sa.Text())), schema="rules"
    )
    op.add_column(
        "evaluation",
        sa.Column("not_matched_versions", postgresql.ARRAY(sa.Integer())),
        schema="rules",
    )
    op.execute(compression_sql("rules", COLUMNS, "lz4"))


def downgrade() -> None:
    # Back to one JSON entry per rule, so the older code reads every row whole.
    op.execute(
        """
        UPDATE rules.evaluation e SET results = (
            WITH notable AS (
                SELECT r.value - 'index' AS entry, (r.value ->> 'index')::int AS position
                FROM jsonb_array_elements(e.results) r
            ), free AS (
                SELECT p AS position, row_number() OVER (ORDER BY p) AS ord
                FROM generate_series(
                    0, jsonb_array_length(e.results) + cardinality(e.not_matched) - 1
                ) p
                WHERE p NOT IN (SELECT position FROM notable)
            )
            SELECT COALESCE(jsonb_agg(entry ORDER BY position), '[]'::jsonb) FROM (
                SELECT entry, position FROM notable
                UNION ALL
                SELECT jsonb_build_object(
                    'rule_id', n.id, 'rule_name', n.name, 'kind', COALESCE(rule.kind, 'action'),
                    'ticket_version', n.version, 'outcome', 'not_matched',
                    'reason', 'no condition group held'
                ), free.position
                FROM unnest(e.not_matched, e.not_matched_names, e.not_matched_versions)
                     WITH ORDINALITY AS n(id, name, version, ord)
                JOIN free USING (ord)
                LEFT JOIN rules.rule rule ON rule.id = n.id
            ) entries
        )
        WHERE e.not_matched IS NOT NULL
        """
    )
    for column in ("not_matched_versions", "not_matched_names", "not_matched"):
        op.drop_column("evaluation", column, schema="rules")
