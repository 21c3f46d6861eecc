"""What the benchmark sends: ticket-creation requests, and the same work as raw SQL.

The raw-SQL transaction mirrors, statement for statement and character for character,
what ``POST /v1/tickets`` sends through SQLAlchemy (taken from pg_stat_statements of an API
run; the benchmark compares both statement lists after every run and the report says
whether they still match, since the service's SQL keeps changing):

    BEGIN
    WITH c AS (INSERT INTO customer ... ON CONFLICT (email) DO UPDATE ... RETURNING ...)
      SELECT c.id, c.email, nextval('ticket_number_seq'), ARRAY(<customer's groups>) FROM c
    WITH new_ticket AS (INSERT INTO ticket ...), new_messages AS (INSERT INTO message ...),
      new_history AS (INSERT INTO ticket_history ...) INSERT INTO outbox ...
    COMMIT

with the same parameter types and payload sizes, so the API/raw ratio isolates what the
Python service adds on top of PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from helpdesk_events import TicketCreated, encode_event, shard_of

# Distinct customers the requests spread over: most tickets hit an existing customer (the
# upsert's update branch), as a help desk's traffic does, without hot-row contention.
CUSTOMERS = 20_000

_SUBJECTS = (
    "Order {n} arrived damaged",
    "Cannot log in to my account",
    "Invoice {n}: wrong VAT number",
    "Refund for order {n}",
    "Printer on fire (again)",
    "How do I change my delivery address?",
)
_BODY = (
    "Hello,\n\nI ordered a standing desk last week (order {n}) and it arrived today with a "
    "cracked leg and two missing screws. The box looked fine, so I guess it left the "
    "warehouse like this. Could you send a replacement leg, or tell me how to return the "
    "whole desk? I attached photos of the damage and of the shipping label.\n\n"
    "Thanks,\n{name}"
)


def ticket_request(rng: random.Random) -> dict[str, Any]:
    """One ``POST /v1/tickets`` body, like a ticket created from an incoming e-mail."""
    customer = rng.randrange(CUSTOMERS)
    order = rng.randrange(100_000, 999_999)
    name = f"Customer {customer}"
    return {
        "subject": rng.choice(_SUBJECTS).format(n=order),
        "channel": "email",
        "customer": {"email": f"c{customer}@example.com", "name": name},
        "message": {"body": _BODY.format(n=order, name=name)},
    }


def request_bodies(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [ticket_request(rng) for _ in range(count)]


# -- the same transaction in raw SQL ------------------------------------------------------

SQL_CUSTOMER = (
    "WITH c AS ( INSERT INTO tickets.customer AS cu (id, name, email, phone, created_at, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (email) DO UPDATE SET name = "
    "COALESCE(EXCLUDED.name, cu.name) RETURNING cu.id, cu.email ) SELECT c.id, c.email, "
    "nextval('tickets.ticket_number_seq') AS number, ARRAY(SELECT g.group_id FROM "
    "tickets.customer_group_member g WHERE g.customer_id = c.id) AS group_ids FROM c"
)
TS = "TIMESTAMP WITH TIME ZONE"
TICKET_COLUMNS = (
    "id", "number", "code", "subject", "status", "channel", "priority", "department_id",
    "agent_id", "customer_id", "sla_level", "tags", "custom_fields", "referrer_url",
    "created_from_invitation", "created_at", "updated_at", "deleted_at", "status_changed_at",
    "first_customer_message_at", "last_customer_message_at", "first_agent_reply_at",
    "last_agent_reply_at", "last_message_at", "last_message_author", "last_message_id",
    "message_count", "version",
)  # fmt: skip
TICKET_TYPES = (
    "UUID", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "UUID", "UUID",
    "UUID", "VARCHAR", "VARCHAR(50)[]", "JSONB", "VARCHAR", "BOOLEAN", TS, TS, TS, TS, TS, TS,
    TS, TS, TS, "VARCHAR", "UUID", "INTEGER", "INTEGER",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "id", "ticket_id", "author_kind", "author_id", "internal", "from_address", "to", "cc",
    "bcc", "subject", "body", "created_at",
)  # fmt: skip
MESSAGE_TYPES = (
    "UUID", "UUID", "VARCHAR", "UUID", "BOOLEAN", "VARCHAR", "VARCHAR(320)[]",
    "VARCHAR(320)[]", "VARCHAR(320)[]", "VARCHAR", "VARCHAR", TS,
)  # fmt: skip
HISTORY_COLUMNS = (
    "ticket_id", "occurred_at", "actor_kind", "actor_id", "actor_name", "action", "field",
    "before", "after", "event_id", "correlation_id", "causation_id", "depth",
)  # fmt: skip
HISTORY_TYPES = (
    "UUID", TS, "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "JSONB", "JSONB",
    "UUID", "UUID", "UUID", "INTEGER",
)  # fmt: skip
OUTBOX_COLUMNS = ("shard", "topic", "key", "event_type", "payload")
OUTBOX_TYPES = ("SMALLINT", "VARCHAR", "BYTEA", "VARCHAR", "BYTEA")


def _insert(table: str, columns: tuple[str, ...], types: tuple[str, ...], first: int) -> str:
    quoted = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(f"${first + i}::{t}" for i, t in enumerate(types))
    return f"INSERT INTO tickets.{table} ({quoted}) VALUES ({values})"


SQL_CREATE = (
    f"WITH new_ticket AS ({_insert('ticket', TICKET_COLUMNS, TICKET_TYPES, 1)}), "
    f"new_messages AS ({_insert('message', MESSAGE_COLUMNS, MESSAGE_TYPES, 29)}), "
    f"new_history AS ({_insert('ticket_history', HISTORY_COLUMNS, HISTORY_TYPES, 41)}) "
    + _insert("outbox", OUTBOX_COLUMNS, OUTBOX_TYPES, 54)
)
RAW_STATEMENTS = (SQL_CUSTOMER, SQL_CREATE)

ACTOR = {"kind": "admin", "id": "00000000-0000-4000-8000-000000000001", "name": "bootstrap admin"}


def ticket_created_event(
    *,
    ticket_id: uuid.UUID,
    number: int,
    subject: str,
    customer_id: uuid.UUID,
    email: str,
    message_id: uuid.UUID,
    body: str,
    now: datetime,
    event_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A ``ticket.created`` envelope shaped exactly as ticket-api writes it."""
    message = {
        "id": message_id,
        "ticket_id": ticket_id,
        "author_kind": "customer",
        "author_id": customer_id,
        "internal": False,
        "from_address": email,
        "to": [],
        "cc": [],
        "bcc": [],
        "subject": subject,
        "body": body,
        "created_at": now,
    }
    ticket = {
        "id": ticket_id,
        "code": f"T-{number:06d}",
        "subject": subject,
        "status": "new",
        "channel": "email",
        "priority": "medium",
        "department_id": None,
        "agent_id": None,
        "agent_status": None,
        "customer_id": customer_id,
        "customer_email": email,
        "customer_group_ids": [],
        "sla_level": None,
        "tags": [],
        "custom_fields": {},
        "referrer_url": None,
        "created_from_invitation": False,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "status_changed_at": now,
        "first_customer_message_at": now,
        "last_customer_message_at": now,
        "first_agent_reply_at": None,
        "last_agent_reply_at": None,
        "last_message_at": now,
        "last_message_author": "customer",
        "last_message": message,
        "message_count": 1,
        "version": 1,
    }
    return {
        "id": event_id or uuid.uuid4(),
        "type": "ticket.created",
        "schema_version": 1,
        "occurred_at": now,
        "ticket_id": ticket_id,
        "actor": ACTOR,
        "correlation_id": correlation_id or uuid.uuid4(),
        "causation_id": None,
        "depth": 0,
        "changes": {},
        "ticket": ticket,
        "message": message,
    }


def fast_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


async def create_ticket_raw(conn: Any, request: dict[str, Any], topic: str) -> None:
    """The API's ticket-creation transaction, as plain asyncpg calls on one connection."""
    now = datetime.now(UTC)
    subject: str = request["subject"]
    email: str = request["customer"]["email"].lower()
    name: str = request["customer"]["name"]
    body: str = request["message"]["body"]
    async with conn.transaction():
        row = await conn.fetchrow(SQL_CUSTOMER, uuid.uuid4(), name, email, None, now)
        # asyncpg's own UUID subclass, which orjson does not serialise.
        customer_id = uuid.UUID(bytes=row["id"].bytes)
        number = row["number"]
        ticket_id, message_id = uuid.uuid4(), uuid.uuid4()
        event_id, correlation_id = uuid.uuid4(), uuid.uuid4()
        summary: dict[str, Any] = {
            "status": "new", "channel": "email", "priority": "medium", "department_id": None,
            "agent_id": None, "customer_id": str(customer_id), "sla_level": None, "tags": [],
            "subject": subject,
        }  # fmt: skip
        event = ticket_created_event(
            ticket_id=ticket_id, number=number, subject=subject, customer_id=customer_id,
            email=email, message_id=message_id, body=body, now=now, event_id=event_id,
            correlation_id=correlation_id,
        )  # fmt: skip
        key = str(ticket_id).encode()
        await conn.execute(
            SQL_CREATE,
            # ticket: created with its first message already counted
            ticket_id, number, f"T-{number:06d}", subject, "new", "email", "medium",
            None, None, customer_id, None, [], "{}", None,
            False, now, now, None, now,
            now, now, None, None, now, "customer", message_id, 1, 1,
            # message
            message_id, ticket_id, "customer", customer_id, False, email,
            [], [], [], subject, body, now,
            # history
            ticket_id, now, ACTOR["kind"], ACTOR["id"], ACTOR["name"], "created", None,
            "null", fast_json(summary).decode(), event_id, correlation_id, None, 0,
            # outbox
            shard_of(key), topic, key, "ticket.created", fast_json(event),
        )  # fmt: skip


def outbox_records(count: int, topic: str, seed: int) -> list[tuple[int, str, bytes, str, bytes]]:
    """`count` outbox rows (shard, topic, key, event_type, payload) of real ``ticket.created``
    events, encoded by helpdesk_events exactly as the API encodes them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    records: list[tuple[int, str, bytes, str, bytes]] = []
    for number in range(1, count + 1):
        request = ticket_request(rng)
        ticket_id = uuid.uuid4()
        event = TicketCreated.model_validate(
            ticket_created_event(
                ticket_id=ticket_id,
                number=number,
                subject=request["subject"],
                customer_id=uuid.uuid4(),
                email=request["customer"]["email"],
                message_id=uuid.uuid4(),
                body=request["message"]["body"],
                now=now,
            )
        )
        key = event.partition_key()
        records.append((shard_of(key), topic, key, event.type, encode_event(event)))
    return records
