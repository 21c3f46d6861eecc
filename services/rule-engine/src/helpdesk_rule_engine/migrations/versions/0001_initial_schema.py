"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:00:11.660189
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


def upgrade() -> None:
    create_event_tables("rules")
    op.create_table(
        "evaluation",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("triggers", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("results", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation")),
        schema="rules",
    )
    op.create_index(
        "ix_evaluation_ticket", "evaluation", ["ticket_id", "id"], unique=False, schema="rules"
    )
    op.create_table(
        "rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("shadow", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=50), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule")),
        schema="rules",
    )
    op.create_index(
        "ix_rule_kind_position", "rule", ["kind", "position"], unique=False, schema="rules"
    )
    op.create_table(
        "rule_firing",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "correlation_id", name=op.f("pk_rule_firing")),
        schema="rules",
    )
    op.create_table(
        "rule_set_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_set_version")),
        schema="rules",
    )
    op.execute("INSERT INTO rules.rule_set_version (id, version) VALUES (1, 1)")


def downgrade() -> None:
    op.drop_table("rule_set_version", schema="rules")
    op.drop_table("rule_firing", schema="rules")
    op.drop_index("ix_rule_kind_position", table_name="rule", schema="rules")
    op.drop_table("rule", schema="rules")
    op.drop_index("ix_evaluation_ticket", table_name="evaluation", schema="rules")
    op.drop_table("evaluation", schema="rules")
    drop_event_tables("rules")
