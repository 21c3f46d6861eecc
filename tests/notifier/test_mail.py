"""E-mail deliveries (send e-mail, send answer) through SMTP to a real aiosmtpd server."""

from __future__ import annotations

from typing import Any

from tests.notifier.conftest import Mailbox
from tests.notifier.outbound import Outbound, outbound

__all__ = ["outbound"]


async def test_send_email_arrives(outbound: Outbound, mailbox: Mailbox) -> None:
    delivery_id = await outbound.store(
        kind="send_email",
        to=["boss@example.com"],
        cc=["team@example.com"],
        subject="T-000001 escalated",
        body="Ticket T-000001 waits for you.",
    )
    assert await outbound.run_due() == 1
    [(envelope, message)] = mailbox.messages
    assert envelope.mail_from == "helpdesk@example.com"
    assert sorted(envelope.rcpt_tos) == ["boss@example.com", "team@example.com"]
    assert message["Subject"] == "T-000001 escalated"
    assert message["Message-ID"] == f"<{delivery_id.hex}@helpdesk-notifier>"
    payload: Any = message.get_payload(decode=True)
    assert payload.decode().strip() == "Ticket T-000001 waits for you."
    assert (await outbound.row(delivery_id)).state == "delivered"


async def test_send_answer_goes_to_the_customer(outbound: Outbound, mailbox: Mailbox) -> None:
    await outbound.store(
        kind="send_answer",
        to=["cleo@example.com"],
        subject="Re: Invoice 2026-114 is wrong",
        body="Hi, we got T-000001 and Billing is on it.",
    )
    await outbound.run_due()
    [(envelope, message)] = mailbox.messages
    assert envelope.rcpt_tos == ["cleo@example.com"]
    assert message["Subject"] == "Re: Invoice 2026-114 is wrong"


async def test_temporary_refusal_is_retried_permanent_is_dead(
    outbound: Outbound, mailbox: Mailbox
) -> None:
    mailbox.refuse = "451 try again later"
    delivery_id = await outbound.store(kind="send_email", to=["a@example.com"], body="x")
    await outbound.run_due()
    row = await outbound.row(delivery_id)
    assert (row.state, row.last_error) == ("pending", "SMTP 451: try again later")

    mailbox.refuse = "554 no such mailbox"
    outbound.clock.set(row.next_attempt_at)
    await outbound.run_due()
    row = await outbound.row(delivery_id)
    assert row.state == "dead"
    assert row.last_error.startswith("SMTP 554")
    assert [a.error[:8] for a in await outbound.attempts(delivery_id)] == ["SMTP 451", "SMTP 554"]

    mailbox.refuse = None
    other = await outbound.store(kind="send_email", to=["a@example.com"], body="y")
    await outbound.run_due()
    assert (await outbound.row(other)).state == "delivered"


async def test_no_smtp_server_is_retried(outbound: Outbound) -> None:
    delivery_id = await outbound.store(kind="send_email", to=["a@example.com"], body="x")
    await outbound.run_due()
    row = await outbound.row(delivery_id)
    assert row.state == "pending"
    assert row.last_error


async def test_email_without_recipient_is_dead_on_arrival(outbound: Outbound) -> None:
    delivery_id = await outbound.store(kind="send_email", to=[], body="x")
    row = await outbound.row(delivery_id)
    assert (row.state, row.last_error) == ("dead", "the e-mail has no recipient")
