"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 23:31:59.409943
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
    create_event_tables("tickets")
    op.execute("CREATE SEQUENCE tickets.ticket_number_seq")
    op.create_table(
        "agent",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "availability",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'agent')", name=op.f("ck_agent_role_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent")),
        sa.UniqueConstraint("email", name=op.f("uq_agent_email")),
        schema="tickets",
    )
    op.create_table(
        "custom_field",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('text', 'number', 'boolean', 'date', 'select')",
            name=op.f("ck_custom_field_type_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_field")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_field_key")),
        schema="tickets",
    )
    op.create_table(
        "customer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
        sa.UniqueConstraint("email", name=op.f("uq_customer_email")),
        schema="tickets",
    )
    op.create_table(
        "customer_group",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_group")),
        sa.UniqueConstraint("name", name=op.f("uq_customer_group_name")),
        schema="tickets",
    )
    op.create_table(
        "department",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("name", name=op.f("uq_department_name")),
        schema="tickets",
    )
    op.create_table(
        "idempotency_key",
        sa.Column("principal_id", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "key", name=op.f("pk_idempotency_key")),
        schema="tickets",
    )
    op.create_table(
        "tag",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("color", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag")),
        sa.UniqueConstraint("name", name=op.f("uq_tag_name")),
        schema="tickets",
    )
    op.create_table(
        "ticket_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("correlation_id", sa.Uuid(), nullable=True),
        sa.Column("causation_id", sa.Uuid(), nullable=True),
        sa.Column("depth", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_history")),
        schema="tickets",
    )
    op.create_index(
        "ix_ticket_history_ticket",
        "ticket_history",
        ["ticket_id", "id"],
        unique=False,
        schema="tickets",
    )
    op.create_table(
        "agent_department",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["tickets.agent.id"],
            name=op.f("fk_agent_department_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["tickets.department.id"],
            name=op.f("fk_agent_department_department_id_department"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "department_id", name=op.f("pk_agent_department")),
        schema="tickets",
    )
    op.create_index(
        op.f("ix_tickets_agent_department_department_id"),
        "agent_department",
        ["department_id"],
        unique=False,
        schema="tickets",
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'agent', 'service')", name=op.f("ck_api_key_role_valid")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["tickets.agent.id"],
            name=op.f("fk_api_key_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
        schema="tickets",
    )
    op.create_table(
        "customer_group_member",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["tickets.customer.id"],
            name=op.f("fk_customer_group_member_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["tickets.customer_group.id"],
            name=op.f("fk_customer_group_member_group_id_customer_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "group_id", name=op.f("pk_customer_group_member")),
        schema="tickets",
    )
    op.create_index(
        op.f("ix_tickets_customer_group_member_group_id"),
        "customer_group_member",
        ["group_id"],
        unique=False,
        schema="tickets",
    )
    op.create_table(
        "ticket",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "number",
            sa.BigInteger(),
            server_default=sa.text("nextval('tickets.ticket_number_seq')"),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("sla_level", sa.String(length=100), nullable=True),
        sa.Column(
            "tags", sa.ARRAY(sa.String(length=50)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "custom_fields",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("referrer_url", sa.String(length=2000), nullable=True),
        sa.Column(
            "created_from_invitation", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_customer_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_customer_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_agent_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_agent_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_author", sa.String(length=10), nullable=True),
        sa.Column("last_message_id", sa.Uuid(), nullable=True),
        sa.Column("message_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "priority IN ('low', 'medium', 'high', 'urgent')", name=op.f("ck_ticket_priority_valid")
        ),
        sa.CheckConstraint(
            "status IN ('new', 'open', 'answered', 'resolved', 'postponed', 'spam', 'deleted', 'chatting', 'calling')",
            name=op.f("ck_ticket_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["tickets.agent.id"], name=op.f("fk_ticket_agent_id_agent")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["tickets.customer.id"], name=op.f("fk_ticket_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["tickets.department.id"],
            name=op.f("fk_ticket_department_id_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket")),
        sa.UniqueConstraint("code", name=op.f("uq_ticket_code")),
        sa.UniqueConstraint("number", name=op.f("uq_ticket_number")),
        schema="tickets",
    )
    op.create_index(
        "ix_ticket_agent_created",
        "ticket",
        ["agent_id", "created_at", "id"],
        unique=False,
        schema="tickets",
    )
    op.create_index(
        "ix_ticket_created", "ticket", ["created_at", "id"], unique=False, schema="tickets"
    )
    op.create_index("ix_ticket_customer", "ticket", ["customer_id"], unique=False, schema="tickets")
    op.create_index(
        "ix_ticket_department_created",
        "ticket",
        ["department_id", "created_at", "id"],
        unique=False,
        schema="tickets",
    )
    op.create_index("ix_ticket_status", "ticket", ["status"], unique=False, schema="tickets")
    op.create_index(
        "ix_ticket_tags", "ticket", ["tags"], unique=False, schema="tickets", postgresql_using="gin"
    )
    op.create_table(
        "message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("author_kind", sa.String(length=10), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("internal", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=True),
        sa.Column(
            "to", sa.ARRAY(sa.String(length=320)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "cc", sa.ARRAY(sa.String(length=320)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "bcc", sa.ARRAY(sa.String(length=320)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "author_kind IN ('customer', 'agent', 'system')",
            name=op.f("ck_message_author_kind_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.ticket.id"],
            name=op.f("fk_message_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        schema="tickets",
    )
    op.create_index(
        "ix_message_ticket_created",
        "message",
        ["ticket_id", "created_at", "id"],
        unique=False,
        schema="tickets",
    )
    op.create_table(
        "rating",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("rating", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating IN ('good', 'neutral', 'bad')", name=op.f("ck_rating_rating_valid")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["tickets.agent.id"],
            name=op.f("fk_rating_agent_id_agent"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["tickets.customer.id"],
            name=op.f("fk_rating_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.ticket.id"],
            name=op.f("fk_rating_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating")),
        schema="tickets",
    )
    op.create_index(
        op.f("ix_tickets_rating_ticket_id"), "rating", ["ticket_id"], unique=False, schema="tickets"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_rating_ticket_id"), table_name="rating", schema="tickets")
    op.drop_table("rating", schema="tickets")
    op.drop_index("ix_message_ticket_created", table_name="message", schema="tickets")
    op.drop_table("message", schema="tickets")
    op.drop_index("ix_ticket_tags", table_name="ticket", schema="tickets", postgresql_using="gin")
    op.drop_index("ix_ticket_status", table_name="ticket", schema="tickets")
    op.drop_index("ix_ticket_department_created", table_name="ticket", schema="tickets")
    op.drop_index("ix_ticket_customer", table_name="ticket", schema="tickets")
    op.drop_index("ix_ticket_created", table_name="ticket", schema="tickets")
    op.drop_index("ix_ticket_agent_created", table_name="ticket", schema="tickets")
    op.drop_table("ticket", schema="tickets")
    op.drop_index(
        op.f("ix_tickets_customer_group_member_group_id"),
        table_name="customer_group_member",
        schema="tickets",
    )
    op.drop_table("customer_group_member", schema="tickets")
    op.drop_table("api_key", schema="tickets")
    op.drop_index(
        op.f("ix_tickets_agent_department_department_id"),
        table_name="agent_department",
        schema="tickets",
    )
    op.drop_table("agent_department", schema="tickets")
    op.drop_index("ix_ticket_history_ticket", table_name="ticket_history", schema="tickets")
    op.drop_table("ticket_history", schema="tickets")
    op.drop_table("tag", schema="tickets")
    op.drop_table("idempotency_key", schema="tickets")
    op.drop_table("department", schema="tickets")
    op.drop_table("customer_group", schema="tickets")
    op.drop_table("customer", schema="tickets")
    op.drop_table("custom_field", schema="tickets")
    op.drop_table("agent", schema="tickets")
    op.execute("DROP SEQUENCE tickets.ticket_number_seq")
    drop_event_tables("tickets")
