"""Rules compiled for evaluation, indexed by kind and trigger.

The rules of one (kind, trigger) are compiled together into one function
(``helpdesk_conditions.compile_rule_set``) that tells which of them match a ticket; each
rule also keeps its own compiled conditions for re-checks and traces.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from helpdesk_conditions import ConditionError, CustomField, RuleSetMatcher, compile_rule_set
from helpdesk_events import Change, TicketSnapshot
from helpdesk_rule_actions.actions import Action
from pydantic import TypeAdapter

from ..postgres_text import array_element
from .conditions import CompiledConditions, compile_conditions

log = logging.getLogger(__name__)
_ACTION_LIST: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


@dataclass(frozen=True)
class CompiledRule:
    id: uuid.UUID
    name: str
    kind: str
    position: int
    trigger: str
    shadow: bool
    conditions: CompiledConditions
    actions: tuple[Any, ...]

    @property
    def actor(self) -> dict[str, str]:
        kind = "sla_rule" if self.kind == "sla" else "rule"
        return {"kind": kind, "id": str(self.id), "name": self.name}

    @cached_property
    def result_head(self) -> dict[str, str]:
        """How an evaluation's results name this rule (copy before adding to it)."""
        return {"rule_id": str(self.id), "rule_name": self.name, "kind": self.kind}

    @cached_property
    def not_matched_elements(self) -> tuple[bytes, str]:
        """How the worker lists the rule when it did not match: its id's 16 bytes (joined,
        they make ``Evaluation.not_matched``) and its name as an element of a PostgreSQL
        array literal (``postgres_text.array_element``), which costs a third of encoding a
        hundred strings one by one."""
        return self.id.bytes, array_element(self.name)


@dataclass(frozen=True)
class _RuleGroup:
    """The rules of one (kind, trigger), in order, and their conditions compiled together."""

    rules: tuple[CompiledRule, ...]
    matching: RuleSetMatcher


@dataclass
class RuleSet:
    version: int
    _groups: dict[tuple[str, str], _RuleGroup] = field(default_factory=dict)
    # The rule set never changes once built, so each combination of triggers is sorted once.
    _candidates: dict[tuple[tuple[str, ...], bool], tuple[CompiledRule, ...]] = field(
        default_factory=dict
    )
    # The inactive rules' ids (16 bytes each) by (kind, trigger): an event's evaluation
    # lists those it would have run, so "why not?" has an answer for them too.
    _inactive: dict[tuple[str, str], bytes] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        version: int,
        rows: Sequence[Any],
        custom_fields: Sequence[CustomField] = (),
        inactive: Sequence[Any] = (),
    ) -> RuleSet:
        """``rows``: the active rules; ``inactive``: (id, kind, trigger) of the others."""
        ruleset = cls(version)
        for rule_id, kind, trigger in sorted(inactive, key=lambda r: str(r[0])):
            key = (kind, trigger)
            ruleset._inactive[key] = ruleset._inactive.get(key, b"") + rule_id.bytes
        by_key: dict[tuple[str, str], list[Any]] = {}
        for row in sorted(rows, key=lambda r: (r.position, str(r.id))):
            by_key.setdefault((row.kind, row.trigger), []).append(row)
        for key, key_rows in by_key.items():
            usable = key_rows
            try:
                compiled = compile_rule_set(
                    [r.conditions for r in usable], custom_fields=custom_fields
                )
            except ConditionError:
                # Rules are validated on save; one that no longer compiles (say, its custom
                # field was deleted) is skipped rather than stopping every other rule.
                usable = [row for row in key_rows if _compiles(row, custom_fields)]
                compiled = compile_rule_set(
                    [r.conditions for r in usable], custom_fields=custom_fields
                )
            rules = tuple(
                _rule(row, CompiledConditions(conditions))
                for row, conditions in zip(usable, compiled.rules, strict=True)
            )
            ruleset._groups[key] = _RuleGroup(rules, compiled.matching)
        return ruleset

    def candidates(self, triggers: Sequence[str], *, new_ticket: bool) -> tuple[CompiledRule, ...]:
        """SLA rules first (on new tickets), then action rules of every trigger, in order."""
        key = (tuple(triggers), new_ticket)
        cached = self._candidates.get(key)
        if cached is None:
            sla = self._rules("sla", "ticket_created") if new_ticket else ()
            by_id = {rule.id: rule for t in triggers for rule in self._rules("action", t)}
            actions = sorted(by_id.values(), key=lambda r: (r.position, str(r.id)))
            cached = self._candidates[key] = (*sla, *actions)
        return cached

    def inactive(self, triggers: Sequence[str], *, new_ticket: bool) -> bytes:
        """The packed ids of the inactive rules that would be candidates for this event."""
        keys = [("action", t) for t in triggers]
        if new_ticket:
            keys.insert(0, ("sla", "ticket_created"))
        return b"".join(self._inactive.get(key, b"") for key in keys)

    def matching(
        self,
        triggers: Sequence[str],
        *,
        new_ticket: bool,
        ticket: TicketSnapshot,
        changes: Mapping[str, Change] | None,
        now: datetime,
    ) -> set[uuid.UUID]:
        """The ids of the candidate rules whose conditions hold, one call per (kind, trigger)."""
        keys = [("action", t) for t in triggers]
        if new_ticket:
            keys.insert(0, ("sla", "ticket_created"))
        matched: set[uuid.UUID] = set()
        for key in keys:
            group = self._groups.get(key)
            if group is not None:
                matched.update(group.rules[i].id for i in group.matching(ticket, changes, now))
        return matched

    def _rules(self, kind: str, trigger: str) -> tuple[CompiledRule, ...]:
        group = self._groups.get((kind, trigger))
        return group.rules if group is not None else ()

    def __len__(self) -> int:
        return sum(len(group.rules) for group in self._groups.values())


def _compiles(row: Any, custom_fields: Sequence[CustomField]) -> bool:
    try:
        compile_rule(row, custom_fields)
    except (ConditionError, ValueError):
        log.exception("rule %s (%s) does not compile; it is skipped", row.id, row.name)
        return False
    return True


def _rule(row: Any, conditions: CompiledConditions) -> CompiledRule:
    return CompiledRule(
        id=row.id,
        name=row.name,
        kind=row.kind,
        position=row.position,
        trigger=row.trigger,
        shadow=row.shadow,
        conditions=conditions,
        actions=tuple(_ACTION_LIST.validate_python(row.actions)),
    )


def compile_rule(row: Any, custom_fields: Sequence[CustomField] = ()) -> CompiledRule:
    return _rule(row, compile_conditions(row.conditions, custom_fields))
