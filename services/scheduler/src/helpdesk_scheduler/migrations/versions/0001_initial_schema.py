"""initial schema: the event tables, time rules with the built-in spam clean-up, the ledger

Revision ID: 0001
Revises:
Create Date: 2026-12-07 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpdesk_service.migrations import create_event_tables, drop_event_tables
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "scheduler"
# The built-in rule, editable like any other (it is an ordinary row).
SPAM_RULE_ID = "5c4e2b1a-9d3f-4e8a-b7c6-0f1e2d3c4b5a"


def upgrade() -> None:
    create_event_tables(SCHEMA)
    op.create_table(
        "time_rule",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text()),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("actions", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("broken_reference", sa.Text()),
        schema=SCHEMA,
    )
    op.create_table(
        "firing",
        sa.Column(
            "rule_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.time_rule.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ticket_id", sa.Uuid(), primary_key=True),
        sa.Column("anchor", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("tick_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.Column("batch", postgresql.JSONB()),
        sa.Column("outbound", postgresql.JSONB(), nullable=False),
        sa.Column("reason", sa.Text()),
        schema=SCHEMA,
    )
    # A tick starts by settling what a killed tick left claimed.
    op.create_index(
        "ix_firing_claimed",
        "firing",
        ["rule_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'claimed'"),
    )
    op.execute(
        f"INSERT INTO {SCHEMA}.time_rule (id, name, notes, active, position, conditions, "
        "actions, created_at, updated_at) VALUES ("
        f"'{SPAM_RULE_ID}', 'Delete spam older than 90 days', "
        "'Built in: tickets marked spam 90 days ago are deleted. Edit or deactivate it like "
        "any other rule.', true, 10, "
        """'{"any": [{"all": [{"field": "status", "op": "is", "value": "spam"}, """
        """{"field": "status_changed_at", "op": "older_than", "value": 90, "unit": "days"}]}]}', """
        """'[{"type": "delete"}]', now(), now())"""
    )


def downgrade() -> None:
    op.drop_table("firing", schema=SCHEMA)
    op.drop_table("time_rule", schema=SCHEMA)
    drop_event_tables(SCHEMA)
