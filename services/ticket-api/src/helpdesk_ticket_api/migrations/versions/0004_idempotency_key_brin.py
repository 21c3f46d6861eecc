"""A BRIN index on idempotency_key.created_at, which the relay prunes by

Keys are written in time order and never updated, so a block-range index finds the old
end of the table for a few pages of index and next to no cost per write-back (a b-tree
would be one more index entry on every request that carries a key).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_idempotency_key_created_at",
        "idempotency_key",
        ["created_at"],
        schema="tickets",
        postgresql_using="brin",
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key", schema="tickets")
