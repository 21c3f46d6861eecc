"""indexes: on the time columns the worker prunes by, and on leased deliveries (the claim
counts attempts in flight per endpoint across workers)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_delivery_leased",
        "delivery",
        ["endpoint_id"],
        schema="notify",
        postgresql_where=sa.text("lease_until IS NOT NULL"),
    )
    op.create_index(
        "ix_delivery_finished_at",
        "delivery",
        ["finished_at"],
        schema="notify",
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_index(
        "ix_agent_notification_created_at",
        "agent_notification",
        ["created_at"],
        schema="notify",
        postgresql_using="brin",
    )
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        schema="notify",
        postgresql_using="brin",
    )


def downgrade() -> None:
    op.drop_index("ix_processed_event_processed_at", table_name="processed_event", schema="notify")
    op.drop_index(
        "ix_agent_notification_created_at", table_name="agent_notification", schema="notify"
    )
    op.drop_index("ix_delivery_finished_at", table_name="delivery", schema="notify")
    op.drop_index("ix_delivery_leased", table_name="delivery", schema="notify")
