"""Evaluating rules on ticket events and acting on the outcome.

For each event: SLA rules (on new tickets) then the action rules of the event's triggers,
in order. A matching rule fires at most once per correlation id (the loop guard) and not
at all past the depth limit; its ticket changes go to ticket-api in one write-back whose
idempotency key is (event id, rule id), its e-mails and HTTP calls to the notifier through
the outbox. Later rules see the ticket as the earlier ones left it. Everything decided is
recorded in ``rules.evaluation`` — which rule, why it did or didn't fire, with which values.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from helpdesk_events import (
    EventBase,
    HandlerContext,
    NotificationRequested,
    TicketEventBase,
    TicketSnapshot,
    Topics,
    add_to_outbox,
)
from prometheus_client import Counter
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..clients.ticket_api import TicketApiClient
from ..engine.plan import plan_actions
from ..engine.triggers import triggers_for
from ..models import OUTBOX, Evaluation, RuleFiring
from ..rules.service import RuleCache

log = logging.getLogger(__name__)

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
        ruleset = await self._cache.current(ctx.session)
        new_ticket = event.type == "ticket.created"
        candidates = ruleset.candidates(triggers, new_ticket=new_ticket)
        if not candidates:
            return
        now = ctx.clock.now()
        ticket: TicketSnapshot | None = event.ticket
        # One pass over every candidate; re-checked rule by rule once a rule changed the ticket.
        matched_first = ruleset.matching(
            triggers, new_ticket=new_ticket, ticket=event.ticket, changes=event.changes, now=now
        )
        results: list[dict[str, Any]] = []
        # The tickets the rules were evaluated against (later rules see earlier rules'
        # changes), so a trace left out here can be recomputed when someone asks.
        seen_tickets: dict[int, dict[str, Any]] = {}
        stopped_by: str | None = None
        for rule in candidates:
            entry: dict[str, Any] = {
                "rule_id": str(rule.id),
                "rule_name": rule.name,
                "kind": rule.kind,
            }
            results.append(entry)
            if ticket is None:
                entry.update(outcome="skipped", reason="an earlier rule purged the ticket")
                continue
            if stopped_by is not None:
                entry.update(outcome="skipped", reason=f"stopped by rule {stopped_by!r}")
                continue
            entry["ticket_version"] = ticket.version
            if ticket.version not in seen_tickets:
                seen_tickets[ticket.version] = ticket.model_dump(mode="json")
            if ticket is event.ticket:
                matched = rule.id in matched_first
            else:
                matched = rule.conditions.matches(ticket, event.changes, now)
            if matched or self._full_traces:
                entry["trace"] = rule.conditions.explain(ticket, event.changes, now)
            if not matched:
                entry.update(outcome="not_matched", reason="no condition group held")
                continue
            if event.depth >= self._max_depth:
                CASCADES_STOPPED.inc()
                entry.update(
                    outcome="depth_limit",
                    reason=f"cascade stopped: the change is {event.depth} automatic steps from the "
                    f"original request (limit {self._max_depth})",
                )
                continue
            claimed = await ctx.session.execute(
                pg_insert(RuleFiring)
                .values(
                    rule_id=rule.id,
                    correlation_id=event.correlation_id,
                    event_id=event.id,
                    fired_at=now,
                )
                .on_conflict_do_nothing()
                .returning(RuleFiring.rule_id)
            )
            if claimed.first() is None:
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
            if plan.outbound:
                await add_to_outbox(
                    ctx.session,
                    OUTBOX,
                    self._topics.notifications,
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
                    ],
                )
            entry.setdefault("outcome", "fired")
            RULES_FIRED.labels(rule.kind).inc()
            if plan.stop:
                stopped_by = rule.name
        await ctx.session.execute(
            insert(Evaluation).values(
                event_id=event.id,
                event_type=event.type,
                ticket_id=event.ticket_id,
                correlation_id=event.correlation_id,
                depth=event.depth,
                triggers=triggers,
                results=results,
                tickets={str(v): t for v, t in seen_tickets.items()},
                changes={f: c.model_dump(mode="json") for f, c in event.changes.items()},
                evaluated_at=now,
            )
        )

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
        result = await self._ticket_api.apply_actions(
            event.ticket_id,
            {
                "actor": actor,
                "actions": actions,
                "correlation_id": str(event.correlation_id),
                "causation_id": str(event.id),
                "depth": event.depth + 1,
            },
            idempotency_key=f"{event.id}:{rule_id}",
        )
        if result.refused:
            error = result.body.get("error", {})
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
