"""initial schema: event tables, calendars, levels, department defaults

Revision ID: 0001
Revises:
Create Date: 2026-12-06 22:30:00.000000
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
    create_event_tables("sla")
    op.create_table(
        "calendar",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar")),
        schema="sla",
    )
    op.create_table(
        "calendar_version",
        sa.Column("calendar_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=100), nullable=False),
        sa.Column("hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("holidays", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("yearly_holidays", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["sla.calendar.id"],
            name=op.f("fk_calendar_version_calendar_id_calendar"),
        ),
        sa.PrimaryKeyConstraint("calendar_id", "version", name=op.f("pk_calendar_version")),
        schema="sla",
    )
    op.create_table(
        "level",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_level")),
        schema="sla",
    )
    op.create_table(
        "level_version",
        sa.Column("level_name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        sa.Column("chat_response_minutes", sa.Integer(), nullable=True),
        sa.Column("call_response_minutes", sa.Integer(), nullable=True),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.Column("exclude_holidays", sa.Boolean(), nullable=False),
        sa.Column("warning_minutes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["sla.calendar.id"], name=op.f("fk_level_version_calendar_id_calendar")
        ),
        sa.ForeignKeyConstraint(
            ["level_name"], ["sla.level.name"], name=op.f("fk_level_version_level_name_level")
        ),
        sa.PrimaryKeyConstraint("level_name", "version", name=op.f("pk_level_version")),
        schema="sla",
    )
    op.create_table(
        "department_level",
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("level_name", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["level_name"], ["sla.level.name"], name=op.f("fk_department_level_level_name_level")
        ),
        sa.PrimaryKeyConstraint("department_id", name=op.f("pk_department_level")),
        schema="sla",
    )


def downgrade() -> None:
    op.drop_table("department_level", schema="sla")
    op.drop_table("level_version", schema="sla")
    op.drop_table("level", schema="sla")
    op.drop_table("calendar_version", schema="sla")
    op.drop_table("calendar", schema="sla")
    drop_event_tables("sla")
