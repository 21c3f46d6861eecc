"""A tick: every active time rule, in position order, becomes one search in ticket-api
(the conditions pushed down to SQL, keyset pages), and each ticket due in its current
episode gets the rule's actions through the actions endpoint.

Once per episode: the ledger (``scheduler.firing``) holds a row per (rule, ticket, episode
anchor). A row is claimed — with the exact batch it will send — before the write-back and
settled after it. The write-back carries the idempotency key ``<rule>:<ticket>:<anchor>``
and the ticket version the search saw (``expected_version``): a ticket that changed since
is not acted on (its claim is dropped and the next tick looks again at what it is now).

Coordination: a tick runs under a PostgreSQL advisory lock held by one connection; a
second scheduler finds it taken and skips that tick. A tick killed half-way leaves claimed
rows; the next tick, on any scheduler, starts by resending their stored batches with the
same keys (ticket-api replays a batch it already applied), so nothing is lost or done
twice.

Preview and tick share ``due``: what the preview lists for an instant is what a tick for
that instant acts on.

Between ticks, ``look_ahead`` finds what falls due before the next one and when
(``episodes.falls_due``), and ``fire_held`` fires each at its instant through the same
claim → write-back → settle path, under the same tick lock (the ticker's loop,
``ticker.py``, does the waiting). Nothing is claimed while held: a scheduler killed while
holding loses nothing, the next tick finds those tickets due."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helpdesk_conditions import ConditionError, CustomField, compile_python
from helpdesk_events import (
    Actor,
    NotificationRequested,
    TicketSnapshot,
    Topics,
    add_to_outbox,
)
from helpdesk_rule_actions.actions import Action
from helpdesk_rule_actions.plan import plan_actions
from helpdesk_service.errors import ApiError, Conflict, field_errors
from helpdesk_ticket_client import ActionBatch, TicketApiClient, TicketApiError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..models import OUTBOX, Firing, TimeRule
from .episodes import due_reasons, episode_anchor, falls_due, firing_id, firing_key

log = logging.getLogger(__name__)

_ACTIONS = TypeAdapter(list[Action])
# One tick at a time across every scheduler (pg_try_advisory_lock's key).
TICK_LOCK = 0x5C4ED01E
# Pages of a rule claimed and not settled yet while its next page is searched and claimed.
_PAGES_AHEAD = 2
# Database sessions a tick holds at once: the tick lock's, the search's ledger lookup or
# claim, and one per page settling (a write-back in flight holds none): while a page is
# searched and claimed, the ``_PAGES_AHEAD`` before it settle; once it is claimed, it and
# those settle while the oldest is waited for.
TICK_SESSIONS = 2 + _PAGES_AHEAD


class TickRunning(Conflict, code="tick_running"): ...


class SearchFailed(ApiError, status_code=502, code="search_failed"):
    """ticket-api refused a rule's search (a custom field deleted since the rule was saved)
    or could not be reached."""


@dataclass(frozen=True)
class Due:
    """A ticket a rule acts on at an instant, in its current episode, and why."""

    ticket: TicketSnapshot
    anchor: datetime
    reasons: list[dict[str, Any]]

    def out(self) -> dict[str, Any]:
        return {
            "ticket_id": str(self.ticket.id),
            "code": self.ticket.code,
            "subject": self.ticket.subject,
            "episode_anchor": self.anchor.isoformat(),
            "reasons": self.reasons,
        }


@dataclass
class RuleOutcome:
    rule_id: str
    name: str
    fired: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    # Changed since the search (or gone): looked at again by the next tick.
    stale: list[str] = field(default_factory=list)
    # ticket-api could not be reached: resent by the next tick.
    deferred: list[str] = field(default_factory=list)
    # Why the rule's search failed (the rule did nothing this tick).
    error: str | None = None


@dataclass
class TickResult:
    at: datetime
    resumed: int = 0
    rules: dict[str, RuleOutcome] = field(default_factory=dict)

    def outcome(self, rule_id: uuid.UUID, name: str) -> RuleOutcome:
        return self.rules.setdefault(str(rule_id), RuleOutcome(str(rule_id), name))

    def out(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "resumed": self.resumed,
            "fired": sum(len(r.fired) for r in self.rules.values()),
            "rules": [r.__dict__ for r in self.rules.values()],
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed ledger row as its write-back and settling use it: the batch and the
    notifier requests as models, validated once (when built, or when a resumed row is
    read back from the ledger)."""

    rule_id: uuid.UUID
    ticket_id: uuid.UUID
    anchor: datetime
    key: str
    batch: ActionBatch | None
    outbound: list[NotificationRequested]

    @classmethod
    def resumed(cls, row: Firing) -> Claim:
        """A row a killed tick left claimed, with the batch it stored."""
        return cls(
            row.rule_id,
            row.ticket_id,
            row.anchor,
            firing_key(row.rule_id, row.ticket_id, row.anchor),
            None if row.batch is None else ActionBatch.model_validate(row.batch),
            [NotificationRequested.model_validate(event) for event in row.outbound],
        )


@dataclass
class Held:
    """What falls due before the next tick, by the instant it falls due (ascending) and,
    at each instant, by rule in tick order: nothing of it is claimed yet."""

    after: datetime
    until: datetime
    by_instant: dict[datetime, dict[uuid.UUID, tuple[TimeRule, list[Due]]]] = field(
        default_factory=dict
    )

    def add(self, instant: datetime, rule: TimeRule, due: Due) -> None:
        self.by_instant.setdefault(instant, {}).setdefault(rule.id, (rule, []))[1].append(due)

    def instants(self) -> list[datetime]:
        return sorted(self.by_instant)

    def count(self) -> int:
        return sum(len(dues) for rules in self.by_instant.values() for _, dues in rules.values())

    def out(self) -> dict[str, Any]:
        """A summary for the ticker's log: how many firings are held, until when."""
        instants = self.instants()
        return {
            "after": self.after.isoformat(),
            "until": self.until.isoformat(),
            "held": self.count(),
            "first": instants[0].isoformat() if instants else None,
            "last": instants[-1].isoformat() if instants else None,
        }


class Scheduler:
    """Runs ticks and previews against ticket-api, with the ledger in ``engine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        ticket_api: TicketApiClient,
        topics: Topics,
        *,
        page_size: int,
        write_backs_in_flight: int,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._ticket_api = ticket_api
        self._topics = topics
        self._page_size = page_size
        # Shared by the pages a rule has in flight: the bound is the scheduler's.
        self._write_backs = asyncio.Semaphore(write_backs_in_flight)

    async def due(
        self, rule: TimeRule, at: datetime, custom_fields: Sequence[CustomField] | None = None
    ) -> AsyncIterator[list[Due]]:
        """Pages of the tickets ``rule`` acts on at ``at``: those its conditions match
        (ticket-api's search, at that instant) on which it has not fired in their current
        episode. With ``custom_fields`` (the definitions, for the Python compiler), each
        with its reasons; without, none (a tick acts without them)."""
        conditions = (
            None
            if custom_fields is None
            else compile_python(rule.conditions, custom_fields=list(custom_fields))
        )
        cursor: str | None = None
        while True:
            try:
                page = await self._ticket_api.search_tickets(
                    rule.conditions, limit=self._page_size, cursor=cursor, at=at
                )
            except TicketApiError as exc:
                raise SearchFailed(f"time rule {rule.name!r}: {exc}") from exc
            found = [(ticket, episode_anchor(ticket)) for ticket in page.items]
            fired = await self._fired(rule.id, found)
            due = [
                Due(
                    ticket,
                    anchor,
                    [] if conditions is None else due_reasons(conditions, ticket, at),
                )
                for ticket, anchor in found
                if (ticket.id, anchor) not in fired
            ]
            if due:
                yield due
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _fired(
        self, rule_id: uuid.UUID, found: list[tuple[TicketSnapshot, datetime]]
    ) -> set[tuple[uuid.UUID, datetime]]:
        if not found:
            return set()
        async with self._sessions() as session:
            rows = await session.execute(
                _FIRED,
                {
                    "rule": rule_id,
                    "tickets": [ticket.id for ticket, _ in found],
                    "anchors": [anchor for _, anchor in found],
                },
            )
            return {(row.ticket_id, row.anchor) for row in rows}

    async def custom_fields_for(self, conditions: dict[str, Any]) -> list[CustomField] | None:
        """ticket-api's custom field definitions when ``conditions`` name a custom field."""
        uses = "custom_fields." in str(conditions)
        return await self._ticket_api.custom_fields() if uses else None

    @asynccontextmanager
    async def _tick_lock(self, *, wait: bool) -> AsyncIterator[None]:
        """Hold the tick lock: wait for it, or raise TickRunning when another scheduler
        holds it."""
        async with self._engine.connect() as lock:
            if wait:
                await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": TICK_LOCK})
            elif not await lock.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": TICK_LOCK}
            ):
                raise TickRunning("another scheduler is running a tick; try again when it ends")
            # The lock is the session's: no transaction stays open while the tick runs.
            await lock.commit()
            try:
                yield
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": TICK_LOCK})
                await lock.commit()

    async def _active_rules(self) -> list[TimeRule]:
        async with self._sessions() as session:
            return list(
                (
                    await session.execute(
                        select(TimeRule)
                        .where(TimeRule.active.is_(True))
                        .order_by(TimeRule.position, TimeRule.id)
                    )
                ).scalars()
            )

    async def tick(self, at: datetime) -> TickResult:
        """Run every active rule for the instant ``at``; raises TickRunning when another
        scheduler holds the tick."""
        async with self._tick_lock(wait=False):
            return await self._tick(at)

    async def _tick(self, at: datetime) -> TickResult:
        result = TickResult(at)
        rules = await self._active_rules()
        async with self._sessions() as session:
            leftovers = list(
                (await session.execute(select(Firing).where(Firing.state == "claimed"))).scalars()
            )
        names = {rule.id: rule.name for rule in rules}
        await self._settle_all(
            [
                (Claim.resumed(row), result.outcome(row.rule_id, names.get(row.rule_id, "")))
                for row in leftovers
            ],
            at,
        )
        result.resumed = len(leftovers)
        for rule in rules:
            # One rule after the other, each settled in full before the next searches: a
            # rule sees what the rules before it did (and acts on that version of the
            # ticket), so pages overlap within a rule only.
            await self._run_rule(rule, at, result.outcome(rule.id, rule.name))
        return result

    async def _run_rule(self, rule: TimeRule, at: datetime, outcome: RuleOutcome) -> None:
        """Claim and write back the rule's due pages, keeping write-backs flowing: the next
        page is searched and claimed while the previous pages' write-backs are in flight
        (at most ``_PAGES_AHEAD`` of them claimed and not settled yet), so ticket-api does
        not idle while the scheduler searches, nor the other way round. A rule's pages hold
        distinct tickets, so their order does not matter."""
        unsettled: deque[asyncio.Task[None]] = deque()
        try:
            try:
                async for page in self.due(rule, at):
                    claimed = await self._claim(rule, page, at, outcome)
                    unsettled.append(
                        asyncio.create_task(
                            self._settle_all([(row, outcome) for row in claimed], at)
                        )
                    )
                    while len(unsettled) > _PAGES_AHEAD:
                        await unsettled.popleft()
            except SearchFailed as exc:
                # The other rules still run; this one is searched again next tick.
                log.warning("%s", exc.message)
                outcome.error = exc.message
            while unsettled:
                await unsettled.popleft()
        finally:
            # Whatever stopped the rule, what it claimed is written back and settled
            # rather than left to the next tick's resume.
            await asyncio.gather(*unsettled, return_exceptions=True)

    async def look_ahead(self, after: datetime, until: datetime) -> Held:
        """What falls due in (``after``, ``until``] and when: each active rule's tickets
        due at ``until`` (``due``: its search, less the ledger) that its conditions (the
        Python compiler's, on the snapshot the search returned) did not match at
        ``after``, held for the instant ``falls_due`` finds. A ticket they matched at
        ``after`` already (changed since the tick's search) is held for ``after``: fired
        right away. Claims nothing: a scheduler that stops while holding leaves the
        tickets to the next tick."""
        held = Held(after, until)
        for rule in await self._active_rules():
            try:
                custom_fields = await self.custom_fields_for(rule.conditions) or []
                conditions = compile_python(rule.conditions, custom_fields=custom_fields)
                async for page in self.due(rule, until):
                    for due in page:
                        instant = falls_due(conditions, due.ticket, after, until)
                        # None: the two compilers disagree; the next tick decides.
                        if instant is not None:
                            held.add(instant, rule, due)
            except (SearchFailed, TicketApiError, ConditionError) as exc:
                # A custom field deleted since the save, ticket-api unreachable: the
                # next tick reports it (the rule's error); nothing is held for it.
                log.warning("look-ahead of time rule %r: %s", rule.name, exc)
        return held

    async def fire_held(self, held: Held, instant: datetime) -> TickResult:
        """Fire what ``held`` holds for ``instant``, as a tick for that instant would: under
        the tick lock (waiting for another scheduler's tick to end), claimed in the
        ledger (what another scheduler fired meanwhile is left out), written back with
        the version the look-ahead saw (a ticket changed since is stale: the next tick
        decides again), settled. A rule changed or deactivated since the look-ahead fires
        nothing: the next tick acts on it as it is now."""
        result = TickResult(instant)
        async with self._tick_lock(wait=True):
            current = {rule.id: rule for rule in await self._active_rules()}
            claims: list[tuple[Claim, RuleOutcome]] = []
            for rule, dues in held.by_instant.get(instant, {}).values():
                saved = current.get(rule.id)
                if saved is None or (saved.name, saved.conditions, saved.actions) != (
                    rule.name,
                    rule.conditions,
                    rule.actions,
                ):
                    continue
                outcome = result.outcome(saved.id, saved.name)
                claimed = await self._claim(saved, dues, instant, outcome)
                claims += [(claim, outcome) for claim in claimed]
            await self._settle_all(claims, instant)
        return result

    async def _claim(
        self, rule: TimeRule, page: list[Due], at: datetime, outcome: RuleOutcome
    ) -> list[Claim]:
        """Ledger rows for ``page``, each with the batch it will send; those another
        scheduler claimed first are left to it."""
        actions = tuple(_ACTIONS.validate_python(rule.actions))
        actor = {"kind": "time_rule", "id": str(rule.id), "name": rule.name}
        claims: list[Claim] = []
        states: list[str] = []
        reasons: list[str | None] = []
        for due in page:
            key = firing_key(rule.id, due.ticket.id, due.anchor)
            plan = plan_actions(actions, due.ticket, key)
            outbound = [
                NotificationRequested(
                    id=firing_id(request.dedupe_key),
                    occurred_at=at,
                    ticket_id=due.ticket.id,
                    actor=Actor.model_validate(actor),
                    correlation_id=firing_id(key),
                    depth=1,
                    request=request,
                    ticket=due.ticket,
                )
                for request in plan.outbound
            ]
            batch, reason = None, None
            if plan.errors:
                reason = "; ".join(plan.errors)
            elif plan.ticket_actions:
                try:
                    batch = ActionBatch.model_validate(
                        {
                            "actor": actor,
                            "actions": plan.ticket_actions,
                            "correlation_id": firing_id(key),
                            "depth": 1,
                            "expected_version": due.ticket.version,
                        }
                    )
                except ValidationError as exc:
                    reason = f"ticket-api refuses the changes: {field_errors(exc.errors()).message}"
            claims.append(Claim(rule.id, due.ticket.id, due.anchor, key, batch, outbound))
            states.append("claimed" if reason is None else "failed")
            reasons.append(reason)
        async with self._sessions() as session:
            inserted = (
                await session.execute(
                    _CLAIM,
                    {
                        "rule": rule.id,
                        "at": at,
                        "tickets": [claim.ticket_id for claim in claims],
                        "anchors": [claim.anchor for claim in claims],
                        "states": states,
                        "batches": [
                            None
                            if claim.batch is None
                            # What the write-back sends (only what was set), resent as is.
                            else claim.batch.model_dump_json(by_alias=True, exclude_unset=True)
                            for claim in claims
                        ],
                        "outbounds": [_outbound_json(claim.outbound) for claim in claims],
                        "reasons": reasons,
                    },
                )
            ).all()
            await session.commit()
        mine = {row.ticket_id for row in inserted if row.state == "claimed"}
        outcome.failed.extend(
            {"ticket_id": str(row.ticket_id), "reason": row.reason or ""}
            for row in inserted
            if row.state == "failed"
        )
        return [claim for claim in claims if claim.ticket_id in mine]

    async def _settle_all(self, claims: list[tuple[Claim, RuleOutcome]], at: datetime) -> None:
        """Send the claimed batches (``write_backs_in_flight`` at once, with those of the
        other pages being settled), then record what came of them in one transaction."""

        async def send(claim: Claim, outcome: RuleOutcome) -> _Settled | None:
            async with self._write_backs:
                return await self._send(claim, outcome)

        settled = [
            done
            for done in await asyncio.gather(*(send(claim, outcome) for claim, outcome in claims))
            if done is not None
        ]
        if not settled:
            return
        async with self._sessions() as session:
            fired = [done.claim for done in settled if done.state == "fired"]
            if fired:
                await session.execute(_MARK_FIRED, _keys(fired) | {"at": at})
                await add_to_outbox(
                    session,
                    OUTBOX,
                    self._topics.notifications,
                    [event for claim in fired for event in claim.outbound],
                )
            stale = [done.claim for done in settled if done.state == "stale"]
            if stale:
                # Not acted on: the next tick decides again from what the ticket is then.
                await session.execute(_DROP_CLAIMS, _keys(stale))
            for done in settled:
                if done.state != "failed":
                    continue
                await session.execute(
                    _MARK_FAILED, _keys([done.claim]) | {"at": at, "reason": done.reason}
                )
                if done.broken_reference is not None:
                    await session.execute(
                        update(TimeRule)
                        .where(TimeRule.id == done.claim.rule_id)
                        .values(broken_reference=done.broken_reference)
                    )
            await session.commit()
        for done in settled:
            if done.state == "fired":
                done.outcome.fired.append(str(done.claim.ticket_id))
            elif done.state == "stale":
                done.outcome.stale.append(str(done.claim.ticket_id))
            else:
                done.outcome.failed.append(
                    {"ticket_id": str(done.claim.ticket_id), "reason": done.reason or ""}
                )

    async def _send(self, claim: Claim, outcome: RuleOutcome) -> _Settled | None:
        """Send one claimed batch; None when ticket-api could not be reached (the claim
        stays, and the next tick resends it)."""
        if claim.batch is None:
            return _Settled(claim, outcome, "fired")
        try:
            result = await self._ticket_api.apply_actions(
                claim.ticket_id, claim.batch, idempotency_key=claim.key
            )
        except TicketApiError as exc:
            log.warning("firing %s: %s; resent next tick", claim.key, exc)
            outcome.deferred.append(str(claim.ticket_id))
            return None
        if result.status_code in (404, 409):
            # Changed since the search (expected_version), or gone.
            return _Settled(claim, outcome, "stale")
        if result.refused:
            error = result.body.get("error", {})
            return _Settled(
                claim,
                outcome,
                "failed",
                reason=f"ticket-api refused the changes ({result.status_code}): "
                f"{error.get('message')}",
                # Checked when the rule was saved: what it names was deleted since.
                broken_reference=error.get("message")
                if error.get("code") == "unknown_reference"
                else None,
            )
        return _Settled(claim, outcome, "fired")


@dataclass
class _Settled:
    claim: Claim
    outcome: RuleOutcome
    state: str
    reason: str | None = None
    broken_reference: str | None = None


# The ledger's statements take arrays (one bind per column, whatever the page's size), so
# PostgreSQL and SQLAlchemy prepare each once.
_FIRED = text(
    "SELECT f.ticket_id, f.anchor FROM scheduler.firing f "
    "JOIN unnest(CAST(:tickets AS uuid[]), CAST(:anchors AS timestamptz[])) AS k(t, a) "
    "ON f.ticket_id = k.t AND f.anchor = k.a WHERE f.rule_id = :rule"
)
_CLAIM = text(
    "INSERT INTO scheduler.firing (rule_id, ticket_id, anchor, state, tick_at, claimed_at, "
    "settled_at, batch, outbound, reason) "
    "SELECT :rule, t, a, s, :at, :at, CASE WHEN s = 'claimed' THEN NULL ELSE "
    "CAST(:at AS timestamptz) END, CAST(b AS jsonb), CAST(o AS jsonb), r "
    "FROM unnest(CAST(:tickets AS uuid[]), CAST(:anchors AS timestamptz[]), "
    "CAST(:states AS text[]), CAST(:batches AS text[]), CAST(:outbounds AS text[]), "
    "CAST(:reasons AS text[])) AS u(t, a, s, b, o, r) "
    "ON CONFLICT DO NOTHING RETURNING ticket_id, state, reason"
)
_CLAIMED_KEYS = (
    "unnest(CAST(:rules AS uuid[]), CAST(:tickets AS uuid[]), CAST(:anchors AS timestamptz[])) "
    "AS k(r, t, a) WHERE f.rule_id = k.r AND f.ticket_id = k.t AND f.anchor = k.a "
    "AND f.state = 'claimed'"
)
_MARK_FIRED = text(
    f"UPDATE scheduler.firing f SET state = 'fired', settled_at = :at FROM {_CLAIMED_KEYS}"
)
_MARK_FAILED = text(
    "UPDATE scheduler.firing f SET state = 'failed', settled_at = :at, reason = :reason "
    f"FROM {_CLAIMED_KEYS}"
)
# Not acted on: the next tick decides again from what the ticket is then.
_DROP_CLAIMS = text(f"DELETE FROM scheduler.firing f USING {_CLAIMED_KEYS}")


def _keys(rows: list[Claim]) -> dict[str, Any]:
    """These rows' ledger keys, for the statements above."""
    return {
        "rules": [row.rule_id for row in rows],
        "tickets": [row.ticket_id for row in rows],
        "anchors": [row.anchor for row in rows],
    }


def _outbound_json(events: list[NotificationRequested]) -> str:
    return "[" + ",".join(event.model_dump_json() for event in events) + "]"
