"""initial schema: the event tables

Revision ID: 0001
Revises:
Create Date: 2026-12-06 22:20:00.000000
"""

from collections.abc import Sequence

from helpdesk_service.migrations import create_event_tables, drop_event_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_event_tables("routing")


def downgrade() -> None:
    drop_event_tables("routing")
