"""The regular-expression subset: what it accepts, its canonical form, what it refuses."""

# Look-alike letters (dotless i, long s, Greek sigma and alpha) are the point here.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest
from helpdesk_conditions import RegexSubsetError, parse_regex


@pytest.mark.parametrize(
    ("pattern", "canonical"),
    [
        ("refund", "refund"),
        ("Straße 😀", "Straße 😀"),
        (r"\d{3,5}", "[0-9]{3,5}"),
        (r"\w+@\w+\.com$", "[0-9A-Za-z_]+\\@[0-9A-Za-z_]+\\.com$"),  # punctuation: escaped
        (r"\s\S", "[\\t\\n\\f\\r ][^\\t\\n\\f\\r ]"),
        (r"\D\W", "[^0-9][^0-9A-Za-z_]"),
        ("a.b", "a[^\\n]b"),
        ("^(re|fwd):", "^(?:re|fwd)\\:"),
        ("(?:a|b)+?", "(?:a|b)+"),  # lazy: same outcome for a yes/no search
        ("[a-z_-]", "[a-z\\_\\-]"),
        (r"[^\d\s.]", "[^0-9\\t\\n\\f\\r \\.]"),
        (r"[\]\[\\]", "[\\]\\[\\\\]"),
        ("a{2}b{1,}c?", "a{2}b{1,}c?"),
        ("a}b]", "a\\}b\\]"),
        ("x\ny\t", "x\\ny\\t"),
        (r"\n\t\r\f\v", "\\n\\t\\r\\f\\v"),
        ("[α-ω]+", "[α-ω]+"),
    ],
)
def test_supported_patterns_and_their_canonical_form(pattern: str, canonical: str) -> None:
    regex = parse_regex(pattern)
    assert regex.source == pattern
    assert regex.canonical == canonical
    regex.compile()


@pytest.mark.parametrize(
    ("text", "pattern", "found"),
    [
        ("Order #12345", r"#\d{5}", True),
        ("line one\nline two", "one.line", False),  # . is not a newline
        ("line one\nline two", r"one\sline", True),
        ("line one\nline two", "two$", True),
        ("line one\nline two", "one$", False),  # $ is the end of the text only
        ("Ünïcode", r"^\w", False),  # \w is ASCII
        ("Ünïcode", "^[À-ÿ]", True),
    ],
)
def test_semantics(text: str, pattern: str, found: bool) -> None:
    assert (parse_regex(pattern).compile().search(text) is not None) is found


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "the pattern is empty"),
        ("x" * 301, "longer than 300 characters"),
        ("(a", "missing ) at position 0"),
        ("a)", "unbalanced ) at position 1"),
        ("()", "empty group at position 0"),
        ("a||b", "empty alternative at position 2"),
        ("|a", "empty alternative at position 0"),
        ("*a", "nothing to repeat before this quantifier at position 0"),
        ("^*", "nothing to repeat before this quantifier at position 1"),
        ("a**", "a quantifier cannot follow another quantifier at position 2"),
        ("a*+", "a quantifier cannot follow another quantifier at position 2"),
        ("a{101}", "repetition counts go up to 100"),
        ("a{3,2}", "the maximum is below the minimum"),
        ("a{,2}", r"write \{ for a literal {"),
        (r"(\w+)\1", "backreferences are not supported at position 5"),
        ("(?=a)", "only (...) and (?:...) groups are supported"),
        ("(?i)a", "only (...) and (?:...) groups are supported"),
        ("(?P<n>a)", "only (...) and (?:...) groups are supported"),
        (r"\bword", r"word boundaries (\b) are not supported"),
        (r"\p{L}", "Unicode classes"),
        (r"\x41", "hex escapes are not supported"),
        (r"\q", r"\q is not supported"),
        ("a\\", "trailing backslash"),
        ("[]a]", r"empty class; write \] for a literal ]"),
        ("[a", "missing ] at position 0"),
        ("[[:alpha:]]", "POSIX classes"),
        ("[z-a]", "range out of order"),
        (r"[a-\d]", "a range ends at a character"),
        (r"[\D]", r"\D is not supported inside [...]"),
        ("a\x00", "NUL characters are not allowed"),
        ("((((a{100}){100})))", "the pattern repeats too much"),
    ],
)
def test_unsupported_patterns_are_refused_with_a_reason(pattern: str, message: str) -> None:
    with pytest.raises(RegexSubsetError) as raised:
        parse_regex(pattern)
    assert message in str(raised.value)
