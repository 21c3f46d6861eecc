"""Evaluating rules on ticket events and acting on the outcome.

For each event: SLA rules (on new tickets) then the action rules of the event's triggers,
in order. A matching rule fires at most once per correlation id (the loop guard) and not
at all past the depth limit; its ticket changes go to ticket-api in one write-back whose
idempotency key is (event id, rule id), its e-mails and HTTP calls to the notifier through
the outbox. Later rules see the ticket as the earlier ones left it. Everything decided is
recorded in ``rules.evaluation`` — which rule, why it did or didn't fire, with which values.
"""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from helpdesk_events import (
    Dedupe,
    EventBase,
    HandlerContext,
    NotificationRequested,
    TicketEventBase,
    TicketSnapshot,
    Topics,
    outbox_rows,
)
from helpdesk_rule_actions.plan import plan_actions
from helpdesk_service.errors import field_errors
from helpdesk_ticket_client import ActionBatch, TicketApiClient
from prometheus_client import Counter
from pydantic import ValidationError

from ..engine.ruleset import RuleSet
from ..engine.triggers import triggers_for
from ..models import NOT_MATCHED, OUTBOX, Evaluation, Rule, RuleFiring, RuleSetVersion
from ..postgres_text import array_literal, json_dumps
from ..rules.service import RuleCache

log = logging.getLogger(__name__)


class _AlreadyProcessed(Exception):
    """The event's processed mark is already there (a redelivery): nothing to do."""


class _RuleSetMoved(Exception):
    """rule_set_version moved since the rule set was compiled; nothing was written yet."""


def _qualified_name(table: Any) -> str:
    return f'"{table.schema}".{table.name}'


# The worker's statements, written once and sent to asyncpg as they are (prepared once per
# connection): the SQLAlchemy statement machinery costs more than PostgreSQL does here.
# They run in autocommit mode (ConsumerRunner with dedupe="handler"): an event that fires
# no rule costs one statement, one that fires a rule one more per firing rule.
_FIRING = _qualified_name(RuleFiring.__table__)
_EVALUATION = _qualified_name(Evaluation.__table__)
_OUTBOX = _qualified_name(OUTBOX.outbox)
_CURRENT_VERSION = (
    f"COALESCE((SELECT version FROM {_qualified_name(RuleSetVersion.__table__)} WHERE id = 1), 0)"
)
_EVALUATION_COLUMNS = (
    "event_id, event_type, ticket_id, correlation_id, depth, triggers, results, tickets, "
    "changes, evaluated_at, not_matched, not_matched_names, not_matched_versions, inactive"
)
_EVALUATION_VALUES = (
    "$1::uuid, $2::varchar, $3::uuid, $4::uuid, $5::integer, $6::varchar[], "
    "$7::text::jsonb, $8::text::jsonb, $9::text::jsonb, $10::timestamptz, $11::bytea, "
    "$12::text::text[], $13::text::integer[], $21::bytea"
)


@functools.cache
def _claim_firing(processed: str) -> str:
    """Claim a rule's firing for the event's correlation id, unless the event was already
    processed or (``$5``, unless null) the rule set moved: (version, processed, inserted,
    holder). The claim commits at once, before the write-back; a claim already held by the
    same event (a redelivery after a crash) is this event's to use again, since its
    write-back replays under the same Idempotency-Key."""
    return (
        f"WITH v AS (SELECT {_CURRENT_VERSION} AS version), "
        f"seen AS (SELECT EXISTS (SELECT FROM {processed} WHERE consumer = $6::varchar "
        "AND event_id = $3::uuid) AS done), "
        f"claim AS (INSERT INTO {_FIRING} (rule_id, correlation_id, event_id, fired_at) "
        "SELECT $1::uuid, $2::uuid, $3::uuid, $4::timestamptz FROM v, seen "
        "WHERE ($5::bigint IS NULL OR v.version = $5::bigint) AND NOT seen.done "
        "ON CONFLICT DO NOTHING RETURNING true) "
        "SELECT v.version, seen.done, EXISTS (SELECT FROM claim) AS inserted, "
        f"(SELECT f.event_id FROM {_FIRING} f WHERE f.rule_id = $1::uuid "
        "AND f.correlation_id = $2::uuid) AS holder FROM v, seen"
    )


_FLAG_BROKEN_REFERENCE = (
    f"UPDATE {_qualified_name(Rule.__table__)} SET broken_reference = $2::text WHERE id = $1::uuid"
)
_FIRING_HOLDER = (
    f"SELECT event_id FROM {_FIRING} WHERE rule_id = $1::uuid AND correlation_id = $2::uuid"
)

_VERSION_AND_MARK = (
    f"WITH v AS (SELECT {_CURRENT_VERSION} AS version), "
    "mark AS (INSERT INTO {processed} (consumer, event_id) "
    "SELECT {consumer}, {event_id} FROM v "
    "WHERE ({version}::bigint IS NULL OR v.version = {version}::bigint) "
    "ON CONFLICT DO NOTHING RETURNING true)"
)


@functools.cache
def _mark(processed: str) -> str:
    """Only the processed mark, unless (``$2`` unless null) the rule set moved:
    (version, marked)."""
    head = _VERSION_AND_MARK.format(
        processed=processed, consumer="$3::varchar", event_id="$1::uuid", version="$2"
    )
    return f"{head} SELECT v.version, EXISTS (SELECT FROM mark) FROM v"


@functools.cache
def _finish(processed: str) -> str:
    """The event's outcome in one statement: the processed mark, the evaluation and the
    notification requests, all or (already processed; or, ``$14`` unless null, the rule set
    moved) nothing: (version, marked)."""
    head = _VERSION_AND_MARK.format(
        processed=processed, consumer="$15::varchar", event_id="$1::uuid", version="$14"
    )
    return (
        f"{head}, "
        f"evaluation AS (INSERT INTO {_EVALUATION} ({_EVALUATION_COLUMNS}) "
        f"SELECT {_EVALUATION_VALUES} WHERE EXISTS (SELECT FROM mark)), "
        f"requests AS (INSERT INTO {_OUTBOX} (shard, topic, key, event_type, payload) "
        "SELECT * FROM unnest($16::smallint[], $17::varchar[], $18::bytea[], $19::varchar[], "
        "$20::bytea[]) WHERE EXISTS (SELECT FROM mark)) "
        "SELECT v.version, EXISTS (SELECT FROM mark) FROM v"
    )


_OUTBOX_COLUMNS = ("shard", "topic", "key", "event_type", "payload")


def _check_written(written: Any, ruleset: RuleSet, *, checked: bool) -> None:
    """After ``_mark`` or ``_finish`` — (version, marked): nothing was written if the rule
    set moved (evaluate again) or the event was already processed (a duplicate)."""
    version, marked = written
    if not checked and version != ruleset.version:
        raise _RuleSetMoved
    if not marked:
        raise _AlreadyProcessed


RULES_FIRED = Counter("rules_fired_total", "Rules that fired", ["kind"])
CASCADES_STOPPED = Counter("rules_cascade_stopped_total", "Rule firings refused at the depth limit")
_NAMESPACE = uuid.UUID("5b0c3e9e-7d3f-4a59-9a8e-0f6c1f1c2a10")


class RuleEngine:
    def __init__(
        self,
        *,
        ticket_api: TicketApiClient,
        cache: RuleCache,
        topics: Topics,
        max_depth: int,
        full_traces: bool = False,
    ) -> None:
        self._ticket_api = ticket_api
        self._cache = cache
        self._topics = topics
        self._max_depth = max_depth
        # Off (default): only rules that matched store their condition trace; the others'
        # are recomputed on request from the stored ticket.
        self._full_traces = full_traces

    def handlers(self) -> dict[str, Any]:
        types = (
            "ticket.created",
            "ticket.status_changed",
            "ticket.transferred",
            "ticket.rated",
            "sla.warning",
            "sla.breached",
            "ticket.tags_changed",
            "message.added",
        )
        return dict.fromkeys(types, self.on_ticket_event)

    async def on_ticket_event(self, event: EventBase, ctx: HandlerContext) -> None:
        if not isinstance(event, TicketEventBase):
            return
        triggers = triggers_for(event)
        if not triggers or event.ticket.deleted_at is not None:
            return
        # Statements go straight to asyncpg, in autocommit mode: ConsumerRunner leaves the
        # processed mark to this handler (dedupe="handler"), which writes it with the outcome.
        dedupe = ctx.dedupe
        if dedupe is None:
            raise RuntimeError('the rule engine needs ConsumerRunner(dedupe="handler")')
        db = await ctx.driver_connection()
        ruleset = self._cache.cached
        # Is the rule set known to be current for this event? Not yet when it comes from the
        # cache: the first statement that writes checks rule_set_version in passing, and
        # writes nothing if it moved; the event is then evaluated again with the new rules.
        checked = ruleset is None
        if ruleset is None:
            ruleset = await self._cache.current(ctx.session)
        while True:
            try:
                await self._evaluate(event, ctx, dedupe, db, ruleset, triggers, checked=checked)
                return
            except _AlreadyProcessed:
                ctx.duplicate()
                return
            except _RuleSetMoved:
                ruleset = await self._cache.current(ctx.session)
                checked = True

    async def _evaluate(
        self,
        event: TicketEventBase,
        ctx: HandlerContext,
        dedupe: Dedupe,
        db: Any,
        ruleset: RuleSet,
        triggers: list[str],
        *,
        checked: bool,
    ) -> None:
        new_ticket = event.type == "ticket.created"
        candidates = ruleset.candidates(triggers, new_ticket=new_ticket)
        inactive = ruleset.inactive(triggers, new_ticket=new_ticket)
        if not candidates and not inactive:
            # Nothing to evaluate or record, but the event is processed: a rule added later
            # must not fire on it when it is delivered again.
            written = await db.fetchrow(
                _mark(dedupe.table), event.id, None if checked else ruleset.version, dedupe.consumer
            )
            _check_written(written, ruleset, checked=checked)
            return
        now = ctx.clock.now()
        ticket: TicketSnapshot | None = event.ticket
        # One pass over every candidate; re-checked rule by rule once a rule changed the ticket.
        matched_first = ruleset.matching(
            triggers, new_ticket=new_ticket, ticket=event.ticket, changes=event.changes, now=now
        )
        # What each candidate came to, in evaluation order: the rules that did not match
        # (most of them) as ids, names and ticket versions, every other outcome as an entry
        # of `results` that records its place (`index`) in that order.
        results: list[dict[str, Any]] = []
        # (Id bytes and array literal elements: see CompiledRule.not_matched_elements.)
        not_matched: list[bytes] = []
        not_matched_names: list[str] = []
        not_matched_versions: list[str] = []
        requests: list[NotificationRequested] = []
        # The tickets the rules were evaluated against (later rules see earlier rules'
        # changes), so a trace left out here can be recomputed when someone asks.
        seen_tickets: dict[int, str] = {}  # version -> the ticket as JSON
        stopped_by: str | None = None
        cascades_stopped = 0
        full_traces = self._full_traces
        for index, rule in enumerate(candidates):
            if ticket is None:
                results.append(
                    {
                        **rule.result_head,
                        "index": index,
                        "outcome": "skipped",
                        "reason": "an earlier rule purged the ticket",
                    }
                )
                continue
            if stopped_by is not None:
                results.append(
                    {
                        **rule.result_head,
                        "index": index,
                        "outcome": "skipped",
                        "reason": f"stopped by rule {stopped_by!r}",
                    }
                )
                continue
            if ticket.version not in seen_tickets:
                seen_tickets[ticket.version] = ticket.model_dump_json()
            if ticket is event.ticket:
                matched = rule.id in matched_first
            else:
                matched = rule.conditions.matches(ticket, event.changes, now)
            if not matched and not full_traces:
                # The common case, kept short: most candidates do not match.
                rule_id, name = rule.not_matched_elements
                not_matched.append(rule_id)
                not_matched_names.append(name)
                not_matched_versions.append(str(ticket.version))
                continue
            entry: dict[str, Any] = {
                **rule.result_head,
                "index": index,
                "ticket_version": ticket.version,
            }
            results.append(entry)
            entry["trace"] = rule.conditions.explain(ticket, event.changes, now)
            if not matched:
                entry.update(outcome="not_matched", reason=NOT_MATCHED)
                continue
            if event.depth >= self._max_depth:
                cascades_stopped += 1
                # Both guards hold here; the trace names the one that would have stopped the
                # rule anyway: a rule that already fired for this change is the loop guard's.
                holder = await db.fetchval(_FIRING_HOLDER, rule.id, event.correlation_id)
                if holder is not None and holder != event.id:
                    entry.update(
                        outcome="already_fired",
                        reason="this rule already fired for the same originating change "
                        "(loop guard)",
                    )
                    continue
                entry.update(
                    outcome="depth_limit",
                    reason=f"cascade stopped: the change is {event.depth} automatic steps from the "
                    f"original request (limit {self._max_depth})",
                )
                continue
            version, processed, inserted, holder = await db.fetchrow(
                _claim_firing(dedupe.table),
                rule.id,
                event.correlation_id,
                event.id,
                now,
                None if checked else ruleset.version,
                dedupe.consumer,
            )
            if processed:
                raise _AlreadyProcessed
            if not checked and version != ruleset.version:
                raise _RuleSetMoved
            checked = True
            claimed = inserted or holder == event.id
            if not claimed:
                entry.update(
                    outcome="already_fired",
                    reason="this rule already fired for the same originating change (loop guard)",
                )
                continue
            plan = plan_actions(rule.actions, ticket, f"{event.id}:{rule.id}")
            entry["actions"] = plan.describe()
            if rule.shadow:
                entry.update(outcome="shadow", reason="shadow mode: recorded, not applied")
                continue
            ticket = await self._apply(
                event, rule.actor, str(rule.id), plan.ticket_actions, entry, ticket
            )
            if "broken_reference" in entry:
                await db.execute(_FLAG_BROKEN_REFERENCE, rule.id, entry["broken_reference"])
            if plan.outbound:
                requests.extend(
                    [
                        NotificationRequested(
                            id=uuid.uuid5(_NAMESPACE, request.dedupe_key),
                            occurred_at=now,
                            ticket_id=event.ticket_id,
                            actor=rule.actor,
                            correlation_id=event.correlation_id,
                            causation_id=event.id,
                            depth=event.depth + 1,
                            request=request,
                            ticket=ticket or event.ticket,
                        )
                        for request in plan.outbound
                    ]
                )
            entry.setdefault("outcome", "fired")
            RULES_FIRED.labels(rule.kind).inc()
            if plan.stop:
                stopped_by = rule.name
        row = (
            event.id,
            event.type,
            event.ticket_id,
            event.correlation_id,
            event.depth,
            triggers,
            json_dumps(results),
            "{" + ",".join(f'"{v}":{t}' for v, t in seen_tickets.items()) + "}",
            json_dumps({f: c.model_dump(mode="json") for f, c in event.changes.items()}),
            now,
            b"".join(not_matched),
            array_literal(not_matched_names),
            array_literal(not_matched_versions),
        )
        outbox = outbox_rows(self._topics.notifications, requests)
        written = await db.fetchrow(
            _finish(dedupe.table),
            *row,
            None if checked else ruleset.version,
            dedupe.consumer,
            *([r[column] for r in outbox] for column in _OUTBOX_COLUMNS),
            inactive or None,
        )
        _check_written(written, ruleset, checked=checked)
        if cascades_stopped:
            CASCADES_STOPPED.inc(cascades_stopped)

    async def _apply(
        self,
        event: TicketEventBase,
        actor: dict[str, str],
        rule_id: str,
        actions: list[dict[str, Any]],
        entry: dict[str, Any],
        ticket: TicketSnapshot,
    ) -> TicketSnapshot | None:
        """Write the rule's ticket changes back; return the ticket as it is afterwards."""
        if not actions:
            return ticket
        try:
            batch = ActionBatch.model_validate(
                {
                    "actor": actor,
                    "actions": actions,
                    "correlation_id": event.correlation_id,
                    "causation_id": event.id,
                    "depth": event.depth + 1,
                }
            )
        except ValidationError as exc:
            # What ticket-api would answer with a 422, found before sending (the same schema).
            entry.update(
                outcome="failed",
                reason=f"ticket-api refuses the changes: {field_errors(exc.errors()).message}",
            )
            return ticket
        result = await self._ticket_api.apply_actions(
            event.ticket_id, batch, idempotency_key=f"{event.id}:{rule_id}"
        )
        if result.refused:
            error = result.body.get("error", {})
            if error.get("code") == "unknown_reference":
                # Checked when the rule was saved: what it names was deleted since.
                entry["broken_reference"] = error.get("message")
            entry.update(
                outcome="failed",
                reason=f"ticket-api refused the changes ({result.status_code}): "
                f"{error.get('message')}",
            )
            return ticket
        entry["event_ids"] = result.body.get("event_ids", [])
        if result.body.get("purged"):
            return None
        after = result.body.get("ticket")
        return TicketSnapshot.model_validate(after) if after else ticket
