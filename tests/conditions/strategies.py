"""Hypothesis strategies: ticket rows (as ticket-api stores them) and valid conditions.

Values are drawn from small pools that tickets and conditions share (so conditions often
hit), with Unicode that trips case folding (ß/ẞ, dotted İ, final sigma, the Kelvin sign,
ligatures) and LIKE / regex metacharacters."""

# Look-alike letters (dotless i, long s, Greek sigma and alpha) are the point here.
# ruff: noqa: RUF001

from __future__ import annotations

import string
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from helpdesk_conditions import CHANNELS, FIELDS, PRIORITIES, STATUSES
from helpdesk_conditions.regex import MAX_PATTERN_LENGTH
from hypothesis import assume
from hypothesis import strategies as st

from .conftest import CUSTOM_FIELDS, NOW, Directory

ALPHABET = "aAbBsSkKzZ019 _%\\-.@+*()[]{}|?^$ßẞİıiIΣσςÄäÖö\u212aſǅǆﬁ😀é\u0301\n\t"
WORDS = [
    "Refund",
    "REFUND",
    "refund",
    "Straße",
    "STRASSE",
    "ẞ",
    "İstanbul",
    "istanbul",
    "ΟΔΥΣΣΕΥΣ",
    "οδυσσευς",
    "Σίσυφος",
    "ς",
    "Σ",
    "\u212aelvin",
    "ſ",
    "ǅ",
    "100%",
    "a_b",
    "a%b",
    "back\\slash",
    "Ärger",
    "ÄRGER",
    "ﬁle",
    "FILE",
    "😀",
    "Ünïcödé",
]
ADDRESSES = [
    "Anna@Example.com",
    "anna@example.com",
    "bob@exämple.org",
    "ΣΟΦΙΑ@mail.gr",
    "support+100%@x.io",
    "a_b@x.io",
]
TAGS = ["vip", "VIP", "billing", "bug", "Bug", "ünïcode", "a_b"]
SLA_LEVELS = ["gold", "silver", "bronze"]
CASES: list[Callable[[str], str]] = [
    str,
    str.upper,
    str.lower,
    str.swapcase,
    str.title,
    str.casefold,
]

# Offsets from NOW; relative conditions use the same units, so exact boundaries come up.
OFFSETS = [
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(minutes=59),
    timedelta(hours=1),
    timedelta(hours=1, microseconds=1),
    timedelta(hours=24),
    timedelta(hours=24) - timedelta(microseconds=1),
    timedelta(hours=48),
    timedelta(days=3),
    timedelta(days=10),
    timedelta(days=90),
]

chars = st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"])
random_text = st.text(alphabet=st.sampled_from(ALPHABET) | chars, max_size=12)


@st.composite
def texts(draw: st.DrawFn, max_words: int = 4) -> str:
    parts = draw(st.lists(st.sampled_from(WORDS) | random_text, max_size=max_words))
    return " ".join(parts)


@st.composite
def needles(draw: st.DrawFn) -> str:
    """A non-empty piece of a word, in some case, or random text."""
    if draw(st.booleans()):
        word = draw(st.sampled_from(WORDS + ADDRESSES))
        start = draw(st.integers(0, len(word) - 1))
        end = draw(st.integers(start + 1, len(word)))
        needle = draw(st.sampled_from(CASES))(word[start:end])
    else:
        needle = draw(random_text)
    return needle if needle else "x"


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    if draw(st.booleans()):
        offset = draw(st.sampled_from(OFFSETS))
    else:
        offset = timedelta(microseconds=draw(st.integers(0, 120 * 86_400 * 10**6)))
    return NOW - offset if draw(st.integers(0, 4)) else NOW + offset


calendar_dates = st.integers(-100, 10).map(lambda d: (NOW + timedelta(days=d)).date().isoformat())


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def custom_values(draw: st.DrawFn) -> dict[str, Any]:
    candidates: dict[str, st.SearchStrategy[Any]] = {
        "note": texts(max_words=2),
        "score": st.sampled_from([-1, 0, 1.5, 3, 10, 10**9, 0.1]),
        "vip": st.booleans(),
        "due": calendar_dates,
        "plan": st.sampled_from(["free", "pro", "Enterprise"]),
    }
    keys = draw(st.lists(st.sampled_from(sorted(candidates)), unique=True))
    return {k: draw(candidates[k]) for k in keys}


@st.composite
def ticket_rows(draw: st.DrawFn, d: Directory) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A ticket row and its last message row (or None)."""
    ticket_id = uuid.uuid4()
    message: dict[str, Any] | None = None
    if draw(st.integers(0, 4)):
        message = {
            "id": uuid.uuid4(),
            "ticket_id": ticket_id,
            "author_kind": draw(st.sampled_from(["customer", "agent", "system"])),
            "from_address": draw(_maybe(st.sampled_from(ADDRESSES) | texts(max_words=1))),
            "to": draw(st.lists(st.sampled_from(ADDRESSES) | random_text, max_size=3)),
            "cc": draw(st.lists(st.sampled_from(ADDRESSES), max_size=2)),
            "bcc": draw(st.lists(st.sampled_from(ADDRESSES), max_size=2)),
            "body": draw(texts()),
            "created_at": NOW,
        }
    ticket = {
        "id": ticket_id,
        "code": f"T-{ticket_id.hex[:12]}",
        "subject": draw(texts()),
        "status": draw(st.sampled_from(STATUSES)),
        "channel": draw(st.sampled_from(CHANNELS)),
        "priority": draw(st.sampled_from(PRIORITIES)),
        "department_id": draw(_maybe(st.sampled_from(d.departments))),
        "agent_id": draw(_maybe(st.sampled_from(d.agents))),
        "customer_id": draw(_maybe(st.sampled_from(d.customers))),
        "sla_level": draw(_maybe(st.sampled_from(SLA_LEVELS))),
        "sla_due_at": draw(_maybe(instants())),
        "sla_late": draw(st.booleans()),
        "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
        "custom_fields": draw(custom_values()),
        "referrer_url": draw(_maybe(st.sampled_from(["", "https://Example.com/Preise?a=100%"]))),
        "created_from_invitation": draw(st.booleans()),
        "created_at": draw(instants()),
        "updated_at": draw(instants()),
        "deleted_at": draw(_maybe(instants())),
        "status_changed_at": draw(instants()),
        "first_customer_message_at": draw(_maybe(instants())),
        "last_customer_message_at": draw(_maybe(instants())),
        "first_agent_reply_at": draw(_maybe(instants())),
        "last_agent_reply_at": draw(_maybe(instants())),
        "last_message_at": draw(_maybe(instants())),
        "last_message_author": message["author_kind"] if message else None,
        "last_message_id": message["id"] if message else None,
        "message_count": 1 if message else 0,
        "version": 1,
    }
    return ticket, message


# -- regular expressions in the supported subset --------------------------------------------

_REGEX_LITERALS = "abkKsSzZ019 _%-.@ßẞİıΣσςä\u212aſ😀\n"


def _literal(char: str) -> str:
    return "\\" + char if char in string.punctuation else char


_class_items = st.sampled_from(
    ["a-z", "A-Z", "0-9", "α-ω", "À-ÿ", "\\d", "\\w", "\\s", "ß", "\\-", "_", "%", "\\]", "😀"]
)
_classes = st.builds(
    lambda negated, items: "[" + ("^" if negated else "") + "".join(items) + "]",
    st.booleans(),
    st.lists(_class_items, min_size=1, max_size=3),
)
_atoms = (
    st.sampled_from(_REGEX_LITERALS).map(_literal)
    | st.sampled_from(WORDS).map(lambda w: "".join(_literal(c) for c in w))
    | st.sampled_from([".", "\\d", "\\w", "\\s", "\\D", "\\W", "\\S"])
    | _classes
)
_quantifiers = st.sampled_from(["", "", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "*?"])


def _branches(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pieces = st.tuples(inner, _quantifiers).map(
        lambda p: (f"(?:{p[0]})" if len(p[0]) > 1 and p[1] else p[0]) + p[1]
    )
    concat = st.lists(pieces, min_size=1, max_size=3).map("".join)
    return st.lists(concat, min_size=1, max_size=2).map("|".join)


_bodies = st.recursive(
    _atoms,
    lambda inner: _branches(inner).map(lambda b: f"({b})"),
    max_leaves=6,
)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    body = draw(_branches(_bodies))
    start = "^" if draw(st.integers(0, 3)) == 0 else ""
    end = "$" if draw(st.integers(0, 3)) == 0 else ""
    pattern = f"{start}(?:{body}){end}" if start or end else body
    # Longer patterns are refused at validation (tested there); here: what the subset accepts.
    assume(len(pattern) <= MAX_PATTERN_LENGTH)
    return pattern


# -- conditions ------------------------------------------------------------------------------

_SQL_OPS = {
    name: [op for op in spec.operators if not op.startswith("changed")]
    for name, spec in FIELDS.items()
}
_CUSTOM_OPS = {
    "note": [
        *("is", "is_not", "contains", "not_contains", "starts_with", "ends_with"),
        *("matches_regex", "is_set", "is_empty"),
    ],
    "score": ["eq", "ne", "gt", "gte", "lt", "lte", "is_set", "is_empty"],
    "vip": ["is_true", "is_false", "is_set", "is_empty"],
    "due": ["before", "after", "older_than", "within_last", "is_set", "is_empty"],
    "plan": ["is", "is_not", "in", "not_in", "is_set", "is_empty"],
}
_NO_VALUE = {"is_set", "is_empty", "is_true", "is_false"}


def _instant_value(draw: st.DrawFn) -> str:
    instant = draw(instants())
    if draw(st.integers(0, 3)) == 0:
        return instant.date().isoformat()
    return instant.isoformat()


@st.composite
def conditions(draw: st.DrawFn, d: Directory) -> dict[str, Any]:
    """One valid condition on any field (no changed*: those are Python only)."""
    custom = draw(st.integers(0, 5)) == 0
    if custom:
        key = draw(st.sampled_from([f.key for f in CUSTOM_FIELDS]))
        field, op = f"custom_fields.{key}", draw(st.sampled_from(_CUSTOM_OPS[key]))
        kind = {"note": "text", "score": "number", "vip": "bool", "due": "cdate", "plan": "enum"}[
            key
        ]
        values: list[str] = ["free", "pro", "Enterprise"]
    else:
        field = draw(st.sampled_from(sorted(_SQL_OPS)))
        op = draw(st.sampled_from(_SQL_OPS[field]))
        spec = FIELDS[field]
        kind = spec.type
        values = list(spec.values or SLA_LEVELS)
    condition: dict[str, Any] = {"field": field, "op": op}
    if op in _NO_VALUE:
        return condition
    if kind in ("text", "address_list"):
        condition["value"] = draw(patterns()) if op == "matches_regex" else draw(needles())
    elif kind == "enum":
        many = op in ("in", "not_in")
        condition["value"] = (
            draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
            if many
            else draw(st.sampled_from(values))
        )
    elif kind in ("uuid", "uuid_list"):
        pool = {
            "department_id": d.departments,
            "agent_id": d.agents,
            "customer_group": d.groups,
        }[field]
        one = st.sampled_from([str(i) for i in pool] + [str(uuid.uuid4())])
        many = op in ("in", "not_in")
        condition["value"] = draw(st.lists(one, min_size=1, max_size=3)) if many else draw(one)
    elif kind == "number":
        condition["value"] = draw(st.sampled_from([-1, 0, 0.1, 1.5, 3, 10, 10**9]))
    elif kind in ("date", "cdate"):
        if op in ("older_than", "within_last"):
            condition["value"] = draw(st.sampled_from([1, 2, 24, 48, 59, 3, 10, 90]))
            condition["unit"] = draw(st.sampled_from(["minutes", "hours", "days"]))
        elif kind == "cdate":
            condition["value"] = draw(calendar_dates)
        else:
            condition["value"] = _instant_value(draw)
    elif kind == "tags":
        many = op in ("has_any", "has_all")
        tags = st.sampled_from(TAGS)
        condition["value"] = draw(st.lists(tags, min_size=1, max_size=3)) if many else draw(tags)
    return condition


@st.composite
def condition_sets(draw: st.DrawFn, d: Directory) -> dict[str, Any]:
    groups = draw(st.lists(st.lists(conditions(d), min_size=1, max_size=3), min_size=0, max_size=3))
    return {"any": [{"all": group} for group in groups]}
