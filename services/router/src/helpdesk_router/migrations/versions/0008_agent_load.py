"""each agent's load and last assignment per channel in a row of their own
(routing.agent_load), kept by triggers on routing.ticket: a decision reads one row per
candidate instead of counting their tickets, and every path that moves a ticket into or
out of a load keeps it exact, the rows written before included

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A ticket counts in its agent's load on its channel while reserved or assigned; its
# assigned_at counts in their last assignment while it has them as agent.
_LOADED = "('reserved', 'assigned')"

# A ticket enters an agent's load (``loaded``) and last assignment (``at``) on a channel.
# The row is updated where it exists (nearly always): an upsert that meets it would also
# write a lock record (~50 bytes more WAL per reservation, measured).
_ENTER = """
CREATE FUNCTION routing.agent_load_enter(
    for_agent uuid, on_channel varchar, loaded boolean, at timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE routing.agent_load
    SET load = load + loaded::int, last_assigned_at = greatest(last_assigned_at, at)
    WHERE agent_id = for_agent AND channel = on_channel;
    IF NOT FOUND THEN
        INSERT INTO routing.agent_load AS l (agent_id, channel, load, last_assigned_at)
        VALUES (for_agent, on_channel, loaded::int, at)
        ON CONFLICT (agent_id, channel) DO UPDATE
        SET load = l.load + excluded.load,
            last_assigned_at = greatest(l.last_assigned_at, excluded.last_assigned_at);
    END IF;
END
$$
"""
# A ticket leaves them. When it held the latest assignment, the next latest is counted
# from the tickets in a statement of its own, after the row is locked: every transaction
# that changed this agent's tickets on the channel before has committed by then, and the
# statement's fresh snapshot sees them (one started in the first statement would not).
_LEAVE = """
CREATE FUNCTION routing.agent_load_leave(
    for_agent uuid, on_channel varchar, loaded boolean, at timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    latest timestamptz;
BEGIN
    UPDATE routing.agent_load SET load = load - loaded::int
    WHERE agent_id = for_agent AND channel = on_channel
    RETURNING last_assigned_at INTO latest;
    IF at = latest THEN
        UPDATE routing.agent_load
        SET last_assigned_at = (
            SELECT max(t.assigned_at) FROM routing.ticket AS t
            WHERE t.agent_id = for_agent AND t.channel = on_channel)
        WHERE agent_id = for_agent AND channel = on_channel;
    END IF;
END
$$
"""
# A ticket row's old contribution leaves, its new one enters; two rows of agent_load are
# locked in (agent, channel) order, so two tickets moving between the same two agents in
# opposite directions never wait for each other.
_FOLLOW = f"""
CREATE FUNCTION routing.agent_load_follow_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    leaves boolean := TG_OP <> 'INSERT' AND OLD.agent_id IS NOT NULL;
    enters boolean := TG_OP <> 'DELETE' AND NEW.agent_id IS NOT NULL;
BEGIN
    IF enters AND (NOT leaves OR (NEW.agent_id, NEW.channel) < (OLD.agent_id, OLD.channel)) THEN
        PERFORM routing.agent_load_enter(
            NEW.agent_id, NEW.channel, NEW.state IN {_LOADED}, NEW.assigned_at);
        enters := false;
    END IF;
    IF leaves THEN
        PERFORM routing.agent_load_leave(
            OLD.agent_id, OLD.channel, OLD.state IN {_LOADED}, OLD.assigned_at);
    END IF;
    IF enters THEN
        PERFORM routing.agent_load_enter(
            NEW.agent_id, NEW.channel, NEW.state IN {_LOADED}, NEW.assigned_at);
    END IF;
    RETURN NULL;
END
$$
"""
# Only rows whose contribution changes call the function: most writes (a waiting ticket's
# events, an assignment recorded after its reservation) change none.
_TRIGGERS = (
    "CREATE TRIGGER agent_load_on_insert AFTER INSERT ON routing.ticket FOR EACH ROW "
    "WHEN (NEW.agent_id IS NOT NULL) EXECUTE FUNCTION routing.agent_load_follow_ticket()",
    "CREATE TRIGGER agent_load_on_update AFTER UPDATE ON routing.ticket FOR EACH ROW "
    "WHEN ((OLD.agent_id IS NOT NULL OR NEW.agent_id IS NOT NULL) AND ("
    "OLD.agent_id IS DISTINCT FROM NEW.agent_id OR OLD.channel <> NEW.channel "
    "OR OLD.assigned_at IS DISTINCT FROM NEW.assigned_at "
    f"OR (OLD.state IN {_LOADED}) <> (NEW.state IN {_LOADED}))) "
    "EXECUTE FUNCTION routing.agent_load_follow_ticket()",
    "CREATE TRIGGER agent_load_on_delete AFTER DELETE ON routing.ticket FOR EACH ROW "
    "WHEN (OLD.agent_id IS NOT NULL) EXECUTE FUNCTION routing.agent_load_follow_ticket()",
)
_COUNT = f"""
INSERT INTO routing.agent_load (agent_id, channel, load, last_assigned_at)
SELECT agent_id, channel, count(*) FILTER (WHERE state IN {_LOADED}), max(assigned_at)
FROM routing.ticket
WHERE agent_id IS NOT NULL
GROUP BY agent_id, channel
"""


def upgrade() -> None:
    # No ticket row changes between the count and the triggers taking over.
    op.execute("LOCK TABLE routing.ticket IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "agent_load",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("load", sa.Integer(), nullable=False),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("agent_id", "channel", name=op.f("pk_agent_load")),
        schema="routing",
    )
    for statement in (_ENTER, _LEAVE, _FOLLOW, *_TRIGGERS, _COUNT):
        op.execute(statement)
    # Loads are no longer counted from the tickets; the last assignment still is, by the
    # trigger, through ix_ticket_turns.
    op.drop_index("ix_ticket_load", table_name="ticket", schema="routing")


def downgrade() -> None:
    op.create_index(
        "ix_ticket_load",
        "ticket",
        ["agent_id", "channel"],
        schema="routing",
        postgresql_where=sa.text("state IN ('assigned', 'reserved')"),
    )
    for trigger in ("agent_load_on_insert", "agent_load_on_update", "agent_load_on_delete"):
        op.execute(f"DROP TRIGGER {trigger} ON routing.ticket")
    for function in ("agent_load_follow_ticket", "agent_load_leave", "agent_load_enter"):
        op.execute(f"DROP FUNCTION routing.{function}")
    op.drop_table("agent_load", schema="routing")
