"""What the benchmark sends: ticket-creation requests, and the same work as raw SQL.

The raw-SQL run sends, character for character, the statement ``POST /v1/tickets`` sends
for a new ticket from a customer known by e-mail (the benchmark compares the API's and the
raw run's statements in pg_stat_statements after every run and the report says whether they
still match, since the service's SQL keeps changing): one ``WITH`` statement that upserts the
customer, draws the number, and inserts the ticket, its message, its history row and its
outbox event, with the same parameter types and payload sizes, so the API/raw ratio isolates
what the Python service adds on top of PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from helpdesk_events import MessageSnapshot, TicketCreated, TicketSnapshot, encode_event, shard_of
from helpdesk_ticket_api.models import Message, Ticket
from helpdesk_ticket_api.tickets.creation import CODE, CUSTOMER, GROUP, statement

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


# -- the same statement in raw SQL ---------------------------------------------------------

# The API's one statement for a new ticket from a customer known by e-mail (customer upsert,
# ticket number, ticket, message, history, outbox; see helpdesk_ticket_api.tickets.creation).
SQL_INBOUND = statement("reference", (True,), False)
RAW_STATEMENTS = (SQL_INBOUND,)
# The statement's ticket and message parameters, in its column order: every column but those
# it fills from what it found or drew (number, code and customer_id; the message's author_id).
# A column added to either table makes create_ticket_raw fail with its name (KeyError)
# instead of sending misplaced arguments.
_TICKET_COLUMNS = tuple(
    c.key for c in Ticket.__table__.columns if c.key not in {"number", "code", "customer_id"}
)
_MESSAGE_COLUMNS = tuple(c.key for c in Message.__table__.columns if c.key != "author_id")

ACTOR = {"kind": "admin", "id": "00000000-0000-4000-8000-000000000001", "name": "bootstrap admin"}


def new_rows(
    *,
    ticket_id: uuid.UUID,
    number: int,
    subject: str,
    customer_id: uuid.UUID,
    email: str,
    message_id: uuid.UUID,
    body: str,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ticket and message rows ticket-api writes for a new ticket from an e-mail, by
    column (``custom_fields`` as the JSON text the statement takes)."""
    ticket = {
        "id": ticket_id, "number": number, "code": f"T-{number:06d}", "subject": subject,
        "status": "new", "channel": "email", "priority": "medium", "department_id": None,
        "agent_id": None, "customer_id": customer_id, "sla_level": None, "sla_due_at": None,
        "sla_late": False, "sla_stamp": 0, "tags": [], "custom_fields": "{}",
        "referrer_url": None, "created_from_invitation": False, "created_at": now,
        "updated_at": now, "deleted_at": None, "status_changed_at": now,
        "first_customer_message_at": now, "last_customer_message_at": now,
        "first_agent_reply_at": None, "last_agent_reply_at": None, "last_message_at": now,
        "last_message_author": "customer", "last_message_id": message_id,
        "message_count": 1, "version": 1,
    }  # fmt: skip
    message = {
        "id": message_id, "ticket_id": ticket_id, "author_kind": "customer",
        "author_id": customer_id, "internal": False, "from_address": email, "to": [], "cc": [],
        "bcc": [], "subject": subject, "body": body, "created_at": now,
    }  # fmt: skip
    return ticket, message


def created_event(
    ticket: dict[str, Any],
    message: dict[str, Any],
    email: str,
    event_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The ``ticket.created`` envelope of those rows, its snapshots read from them by the
    snapshot models' field names (so a new field cannot be left out unnoticed)."""
    message_snapshot = {name: message[name] for name in MessageSnapshot.model_fields}
    snapshot = {name: ticket.get(name) for name in TicketSnapshot.model_fields} | {
        "customer_email": email,
        "customer_group_ids": [],
        "custom_fields": {},
        "last_message": message_snapshot,
    }
    return {
        "id": event_id or uuid.uuid4(),
        "type": "ticket.created",
        "schema_version": 1,
        "occurred_at": ticket["created_at"],
        "ticket_id": ticket["id"],
        "actor": ACTOR,
        "correlation_id": correlation_id or uuid.uuid4(),
        "causation_id": None,
        "depth": 0,
        "changes": {},
        "ticket": snapshot,
        "message": message_snapshot,
    }


def fast_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


async def create_ticket_raw(conn: Any, request: dict[str, Any], topic: str) -> None:
    """The API's ticket-creation statement, as one plain asyncpg call.

    What only the database knows (the customer's id and groups, the ticket number and code)
    travels as the same sentinels the API uses, which the statement replaces."""
    now = datetime.now(UTC)
    subject: str = request["subject"]
    email: str = request["customer"]["email"].lower()
    name: str = request["customer"]["name"]
    body: str = request["message"]["body"]
    ticket_id, message_id = uuid.uuid4(), uuid.uuid4()
    event_id, correlation_id = uuid.uuid4(), uuid.uuid4()
    summary: dict[str, Any] = {
        "status": "new", "channel": "email", "priority": "medium", "department_id": None,
        "agent_id": None, "customer_id": str(CUSTOMER), "sla_level": None, "tags": [],
        "subject": subject,
    }  # fmt: skip
    ticket, message = new_rows(
        ticket_id=ticket_id, number=0, subject=subject, customer_id=CUSTOMER, email=email,
        message_id=message_id, body=body, now=now,
    )  # fmt: skip
    event = created_event(ticket, message, email, event_id, correlation_id)
    event["ticket"]["code"] = CODE
    event["ticket"]["customer_group_ids"] = [GROUP]
    key = str(ticket_id).encode()
    await conn.fetchval(
        SQL_INBOUND,
        uuid.uuid4(), name, email, now,
        *[ticket[column] for column in _TICKET_COLUMNS],
        *[message[column] for column in _MESSAGE_COLUMNS],
        # history
        ticket_id, now, ACTOR["kind"], ACTOR["id"], ACTOR["name"], "created", None,
        "null", fast_json(summary).decode(), event_id, correlation_id, None, 0,
        # outbox
        shard_of(key), topic, key, "ticket.created", fast_json(event),
        # the customer's phone
        None,
    )  # fmt: skip


def outbox_records(count: int, topic: str, seed: int) -> list[tuple[int, str, bytes, str, bytes]]:
    """`count` outbox rows (shard, topic, key, event_type, payload) of real ``ticket.created``
    events, encoded by helpdesk_events exactly as the API encodes them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    records: list[tuple[int, str, bytes, str, bytes]] = []
    for number in range(1, count + 1):
        request = ticket_request(rng)
        email = request["customer"]["email"]
        ticket, message = new_rows(
            ticket_id=uuid.uuid4(), number=number, subject=request["subject"],
            customer_id=uuid.uuid4(), email=email, message_id=uuid.uuid4(),
            body=request["message"]["body"], now=now,
        )  # fmt: skip
        event = TicketCreated.model_validate(created_event(ticket, message, email))
        key = event.partition_key()
        records.append((shard_of(key), topic, key, event.type, encode_event(event)))
    return records
