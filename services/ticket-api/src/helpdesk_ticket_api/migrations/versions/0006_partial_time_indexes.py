"""partial indexes on the ticket's nullable searched times: only rows where they are set

Revision ID: 0006
Revises: 0005

Every update of a ticket row that is not HOT (all of them: ``updated_at`` is indexed and
moves on every change) adds an entry to each index of the table, a NULL included. The
searches and time rules on these columns are ranges ("no agent reply for 48 h", "SLA due
within 30 minutes") that helpdesk_conditions compiles as ``column IS NOT NULL AND …``, so
an index of only the rows where the column is set serves them as the full one did, and an
update of a ticket without the time (a new ticket's first assignment: no message, no
reply, often no SLA clock) writes nothing to it: up to four index entries (~64 bytes of
WAL each) less per write-back, and smaller indexes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NULLABLE_TIMES = (
    "sla_due_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "last_message_at",
)


def _recreate(column: str, *, only_set: bool) -> None:
    name = f"ix_ticket_{column}"
    op.drop_index(name, table_name="ticket", schema="tickets")
    op.create_index(
        name,
        "ticket",
        [column],
        schema="tickets",
        postgresql_where=f"{column} IS NOT NULL" if only_set else None,
    )


def upgrade() -> None:
    for column in _NULLABLE_TIMES:
        _recreate(column, only_set=True)


def downgrade() -> None:
    for column in reversed(_NULLABLE_TIMES):
        _recreate(column, only_set=False)
