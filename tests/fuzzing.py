"""Breaking a valid request body one place at a time, for tests that nothing a client
sends gets a 5xx: each value replaced by each of a list of odd ones (the wrong type, a huge
number, a NUL character, a template or a regex meant to hurt), each key dropped, one key
added. Systematic rather than random, so every place meets every odd value."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx

ODD_VALUES: list[Any] = [
    None, 0, -1, 10**30, 1.5, 1e308, "", "x" * 5000, "\u0000", "é", True, [], [1], {}, {"a": 1},
    "{{ 7 * 7 }}", "{% for x in range(10**9) %}{% endfor %}", "{{ ticket.__class__ }}",
    "(a+)+$", "[", "2026-13-45", "P1D",
]  # fmt: skip
OK = {200, 201}
REFUSED = {400, 404, 409, 413, 422}
_DROP = object()  # stands for "the key left out"


def places(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (the root excluded)."""
    if at:
        yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, (*at, index))


def broken_bodies(valid: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``valid`` with one place changed: each place to each odd value, each key dropped;
    then with one unexpected key."""
    for where in places(valid):
        for value in [*ODD_VALUES, _DROP]:
            body = copy.deepcopy(valid)
            parent: Any = body
            for step in where[:-1]:
                parent = parent[step]
            if value is _DROP:
                if not isinstance(parent, dict):
                    continue
                del parent[where[-1]]
            else:
                parent[where[-1]] = value
            yield body
    yield {**valid, "unexpected": 1}


def check(response: httpx.Response, what: str, body: Any) -> None:
    """A success, or a 4xx in the suite's error format."""
    assert response.status_code in OK | REFUSED, (what, body, response.text[:500])
    if response.status_code in REFUSED:
        error = response.json()["error"]
        assert error["code"] and error["message"], (what, body, response.text[:500])
