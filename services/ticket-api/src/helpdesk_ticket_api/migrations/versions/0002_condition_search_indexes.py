"""indexes for condition searches (POST /v1/tickets/search, time rules)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00

- One b-tree per timestamp that time rules test ("no customer reply for 48 h", "resolved
  for 10 days", "idle since…"): the scheduler's searches are ranges on these columns.
- A trigram GIN index on the case-folded subject, so "subject contains / starts with /
  ends with / is" do not scan every ticket. Its expression is exactly the one
  helpdesk_conditions.sql_fold() emits; change both together.
- A GIN index on custom_fields for the containment tests the SQL compiler emits for
  custom booleans ("custom_fields @> '{"vip": true}'").

pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME_COLUMNS = (
    "updated_at",
    "status_changed_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "last_message_at",
)
# Final sigma (U+03C2) folded to sigma (U+03C3), as helpdesk_conditions.text.fold does.
_FOLDED_SUBJECT = """translate(lower((subject COLLATE "und-x-icu")), '\u03c2', '\u03c3')"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in _TIME_COLUMNS:
        op.create_index(f"ix_ticket_{column}", "ticket", [column], schema="tickets")
    op.execute(
        "CREATE INDEX ix_ticket_subject_folded_trgm ON tickets.ticket "
        f"USING gin ({_FOLDED_SUBJECT} gin_trgm_ops)"
    )
    op.execute(
        "CREATE INDEX ix_ticket_custom_fields ON tickets.ticket "
        "USING gin (custom_fields jsonb_path_ops)"
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_custom_fields", table_name="ticket", schema="tickets")
    op.drop_index("ix_ticket_subject_folded_trgm", table_name="ticket", schema="tickets")
    for column in reversed(_TIME_COLUMNS):
        op.drop_index(f"ix_ticket_{column}", table_name="ticket", schema="tickets")
    # pg_trgm stays: other schemas in the database may use it.
