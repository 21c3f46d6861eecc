"""Accepted write-backs of concurrent decisions are recorded together: the answers that
arrive while one statement runs go in the next one, those of one ticket-api response in
one statement, and every ticket ends assigned."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from helpdesk_router.routing.assignment import (
    Answers,
    Pending,
    autocommit_connection,
    write_back,
)
from helpdesk_ticket_client import TicketApiClient, ticket_api_session
from sqlalchemy import text

from tests.conftest import SERVICE_KEY, Api
from tests.router.conftest import Worker, undelivered_chats_of_online_agents


class CountedStatements:
    """An asyncpg connection whose statements are also listed (what a write-back sent)."""

    def __init__(self, db: Any, sent: list[str]) -> None:
        self._db = db
        self._sent = sent

    async def execute(self, query: str, *args: Any) -> str:
        self._sent.append(query)
        status: str = await self._db.execute(query, *args)
        return status


async def unwritten_reservations(
    api: Api, worker: Worker
) -> tuple[list[dict[str, Any]], list[Pending]]:
    """Four chats of a department of four agents, each reserved for an agent by a router
    whose ticket-api is gone (no write-back happened): the chats and their reservations."""
    _, chats, created = await undelivered_chats_of_online_agents(api, worker, agents=4, chats=4)
    async with worker.unanswered_router() as unanswered:
        for raw in created:
            await unanswered.deliver(*raw)
    async with worker.db.connect() as conn:
        pending = [
            Pending(**row._asdict())
            for row in await conn.execute(
                text(
                    "SELECT ticket_id, agent_id, expected_version, idempotency_key, actor_name, "
                    "moves_department, department_id, causation_id "
                    "FROM routing.pending_assignment ORDER BY ticket_id"
                )
            )
        ]
    assert len(pending) == 4
    return chats, pending


async def test_answers_arriving_during_a_statement_are_recorded_in_the_next_one(
    api: Api, worker: Worker, ticket_api_url: str
) -> None:
    chats, pending = await unwritten_reservations(api, worker)

    answers = Answers()
    http = ticket_api_session(ticket_api_url)
    ticket_api = TicketApiClient(http, SERVICE_KEY)
    sent_by_first: list[str] = []
    sent_by_others: list[str] = []

    async def written_back(reservation: Pending, sent: list[str]) -> str:
        async with autocommit_connection(worker.db) as db:
            written = await write_back(
                CountedStatements(db, sent), ticket_api, reservation, answers
            )
            return written.outcome

    try:
        # The pending rows held: the first answer's statement waits for them, and the
        # other answers arrive meanwhile.
        async with worker.db.begin() as blocker:
            await blocker.execute(text("SELECT 1 FROM routing.pending_assignment FOR UPDATE"))
            first = asyncio.create_task(written_back(pending[0], sent_by_first))
            # Bounded: answers recorded one by one never wait, and would never be three.
            async with asyncio.timeout(60):
                while not sent_by_first:
                    await asyncio.sleep(0)
                others = asyncio.gather(*(written_back(p, sent_by_others) for p in pending[1:]))
                while answers.waiting < 3:
                    await asyncio.sleep(0)
            await blocker.commit()
            assert await first == "assigned"
            assert await others == ["assigned"] * 3
    finally:
        await http.close()

    # The first answer went alone; the three that arrived while its statement ran were
    # recorded by one statement, sent through one of their connections.
    assert len(sent_by_first) == 1
    assert len(sent_by_others) == 1
    async with worker.db.connect() as conn:
        assert (
            await conn.execute(text("SELECT count(*) FROM routing.pending_assignment"))
        ).scalar() == 0
        states = (
            await conn.execute(
                text(
                    "SELECT state, count(*) FROM routing.ticket WHERE id = ANY(:ids) GROUP BY state"
                ),
                {"ids": [c["id"] for c in chats]},
            )
        ).all()
    assert dict(states) == {"assigned": 4}


async def test_answers_of_one_ticket_api_response_are_recorded_by_one_statement(
    api: Api, worker: Worker, ticket_api_url: str
) -> None:
    _, pending = await unwritten_reservations(api, worker)
    # The first write-back holds the client's only request in flight and is refused (a
    # version ticket-api no longer has): it records nothing through the answers. The
    # other three wait meanwhile, go in the next request together, and are answered at
    # once, with no statement of the answers running.
    refused = replace(pending[0], expected_version=pending[0].expected_version + 100)
    answers = Answers()
    http = ticket_api_session(ticket_api_url)
    ticket_api = TicketApiClient(http, SERVICE_KEY, write_backs_in_flight=1)
    sent: list[str] = []

    async def written_back(reservation: Pending) -> str:
        async with autocommit_connection(worker.db) as db:
            counted = CountedStatements(db, sent if reservation is not refused else [])
            written = await write_back(counted, ticket_api, reservation, answers)
            return written.outcome

    try:
        outcomes = await asyncio.gather(*(written_back(p) for p in [refused, *pending[1:]]))
    finally:
        await http.close()

    assert outcomes == ["refused", "assigned", "assigned", "assigned"]
    assert len(sent) == 1
    async with worker.db.connect() as conn:
        states = (
            await conn.execute(
                text(
                    "SELECT state, count(*) FROM routing.ticket WHERE id = ANY(:ids) GROUP BY state"
                ),
                {"ids": [p.ticket_id for p in pending[1:]]},
            )
        ).all()
    assert dict(states) == {"assigned": 3}
