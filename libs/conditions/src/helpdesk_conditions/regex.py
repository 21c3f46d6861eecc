"""The regular-expression subset that RE2 (Python) and PostgreSQL (``~``) agree on.

A pattern is parsed against a small grammar and rewritten into one canonical form that
both engines read the same way: shorthands become explicit ASCII classes (``\\d`` ->
``[0-9]``, ``\\w`` -> ``[0-9A-Za-z_]``, ``\\s`` -> ``[\\t\\n\\f\\r ]``), ``.`` becomes
``[^\\n]``, every group becomes non-capturing, lazy quantifiers become greedy (a boolean
search does not depend on greediness), and ASCII punctuation is always escaped.

Supported: literal characters (any Unicode), ``.``, classes ``[...]`` / ``[^...]`` with
ranges and the escapes below, anchors ``^`` and ``$`` (start and end of the whole text),
``*``, ``+``, ``?``, ``{m}``, ``{m,}``, ``{m,n}`` (n <= 100), alternation ``|``, groups
``(...)`` and ``(?:...)``, escapes ``\\d \\D \\w \\W \\s \\S \\n \\t \\r \\f \\v`` and a backslash
before any ASCII punctuation. Not supported: backreferences, lookaround, word boundaries,
flags such as ``(?i)``, named groups, Unicode classes (``\\p{L}``), POSIX classes
(``[[:alpha:]]``), hex escapes. Matching is case-sensitive: write ``[Rr]efund``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import re2

MAX_PATTERN_LENGTH = 300
MAX_REPEAT = 100
# A bound on the pattern's size once counted repetitions are expanded, so neither engine
# builds an enormous automaton (RE2 would refuse, PostgreSQL would say "too complex").
MAX_EXPANDED_SIZE = 2_000

_PUNCTUATION = frozenset(string.punctuation)
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_CONTROL_RENDER = {v: "\\" + k for k, v in _CONTROL_ESCAPES.items()}
_DIGIT = ("0-9",)
_WORD = ("0-9", "A-Z", "a-z", "_")
_SPACE = ("\\t", "\\n", "\\f", "\\r", " ")
_SHORTHANDS = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
_HINTS = {
    "b": "word boundaries (\\b) are not supported",
    "B": "word boundaries (\\B) are not supported",
    "A": "\\A is not supported; use ^",
    "z": "\\z is not supported; use $",
    "Z": "\\Z is not supported; use $",
    "p": "Unicode classes (\\p{...}) are not supported",
    "P": "Unicode classes (\\P{...}) are not supported",
    "x": "hex escapes are not supported; write the character itself",
    "u": "\\u escapes are not supported; write the character itself",
}


class RegexSubsetError(ValueError):
    """The pattern is outside the supported subset; ``position`` is 0-based."""

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}")
        self.position = position


@dataclass(frozen=True)
class SafeRegex:
    """A checked pattern: ``source`` as written, ``canonical`` for both engines."""

    source: str
    canonical: str

    def compile(self) -> re2._Regexp:
        return re2.compile(self.canonical, _re2_options())


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    return options


def _literal(char: str) -> str:
    if char in _PUNCTUATION:
        return "\\" + char
    return _CONTROL_RENDER.get(char, char)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0

    def peek(self) -> str | None:
        return self.pattern[self.pos] if self.pos < len(self.pattern) else None

    def error(self, message: str, position: int | None = None) -> RegexSubsetError:
        return RegexSubsetError(message, self.pos if position is None else position)

    def parse(self) -> str:
        out, _ = self.alternation()
        if self.pos < len(self.pattern):
            raise self.error("unbalanced )")
        return out

    def alternation(self) -> tuple[str, int]:
        branches: list[str] = []
        size = 0
        while True:
            start = self.pos
            out, branch_size = self.concat()
            if not out:
                raise self.error("empty alternative", start)
            branches.append(out)
            size += branch_size
            if self.peek() != "|":
                return "|".join(branches), size
            self.pos += 1

    def concat(self) -> tuple[str, int]:
        parts: list[str] = []
        size = 0
        while (char := self.peek()) is not None and char not in "|)":
            out, piece_size = self.piece()
            parts.append(out)
            size += piece_size
        return "".join(parts), size

    def piece(self) -> tuple[str, int]:
        start = self.pos
        atom, size, repeatable = self.atom()
        quantified = False
        while (char := self.peek()) is not None and (char in "*+?" or self._at_quantifier()):
            if not repeatable:
                raise self.error("nothing to repeat before this quantifier")
            if quantified:
                raise self.error("a quantifier cannot follow another quantifier")
            quantifier, factor = self.quantifier()
            atom += quantifier
            size *= factor
            quantified = True
            if self.peek() == "?":  # lazy: irrelevant to whether the text matches
                self.pos += 1
        if size > MAX_EXPANDED_SIZE:
            raise self.error(
                f"the pattern repeats too much (over {MAX_EXPANDED_SIZE} expanded elements)",
                start,
            )
        return atom, size

    def _at_quantifier(self) -> bool:
        if self.peek() != "{":
            return False
        end = self.pattern.find("}", self.pos)
        if end < 0:
            return False
        body = self.pattern[self.pos + 1 : end]
        low, comma, high = body.partition(",")
        return low.isdigit() and (not comma or high == "" or high.isdigit())

    def quantifier(self) -> tuple[str, int]:
        char = self.pattern[self.pos]
        if char in "*+?":
            self.pos += 1
            return char, 2 if char != "?" else 1
        end = self.pattern.index("}", self.pos)
        body = self.pattern[self.pos + 1 : end]
        low_text, comma, high_text = body.partition(",")
        low = int(low_text)
        high = int(high_text) if high_text else None
        if low > MAX_REPEAT or (high is not None and high > MAX_REPEAT):
            raise self.error(f"repetition counts go up to {MAX_REPEAT}")
        if high is not None and high < low:
            raise self.error(f"{{{low},{high}}}: the maximum is below the minimum")
        self.pos = end + 1
        if not comma:
            return f"{{{low}}}", max(low, 1)
        if high is None:
            return f"{{{low},}}", max(low, 1) + 1
        return f"{{{low},{high}}}", max(high, 1)

    def atom(self) -> tuple[str, int, bool]:
        start = self.pos
        char = self.pattern[self.pos]
        self.pos += 1
        if char == "(":
            if self.pattern.startswith("?:", self.pos):
                self.pos += 2
            elif self.peek() == "?":
                raise self.error(
                    "only (...) and (?:...) groups are supported "
                    "(no lookaround, flags or named groups)",
                    start,
                )
            if self.peek() == ")":
                raise self.error("empty group", start)
            inner, size = self.alternation()
            if self.peek() != ")":
                raise self.error("missing )", start)
            self.pos += 1
            return f"(?:{inner})", size, True
        if char == "[":
            return self.char_class(start), 1, True
        if char == ".":
            return "[^\\n]", 1, True
        if char in "^$":
            return char, 0, False
        if char in "*+?":
            raise self.error("nothing to repeat before this quantifier", start)
        if char == "{":
            raise self.error("write \\{ for a literal {", start)
        if char == "\\":
            return self.escape(start), 1, True
        if char == "\x00":
            raise self.error("NUL characters are not allowed", start)
        return _literal(char), 1, True

    def escape(self, start: int) -> str:
        char = self.peek()
        if char is None:
            raise self.error("trailing backslash", start)
        self.pos += 1
        if char in _SHORTHANDS:
            return "[" + "".join(_SHORTHANDS[char]) + "]"
        if char.lower() in _SHORTHANDS:
            return "[^" + "".join(_SHORTHANDS[char.lower()]) + "]"
        if char in _CONTROL_ESCAPES:
            return "\\" + char
        if char in _PUNCTUATION:
            return "\\" + char
        if char.isdigit():
            raise self.error("backreferences are not supported", start)
        raise self.error(_HINTS.get(char, f"\\{char} is not supported"), start)

    def char_class(self, start: int) -> str:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        if self.peek() == "]":
            raise self.error("empty class; write \\] for a literal ]", self.pos)
        items: list[str] = []
        while True:
            char = self.peek()
            if char is None:
                raise self.error("missing ]", start)
            if char == "]":
                self.pos += 1
                break
            item_start = self.pos
            low, shorthand = self.class_char()
            if shorthand is not None:
                items.extend(shorthand)
                continue
            assert low is not None
            if self.peek() == "-" and self.pattern[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                high, high_shorthand = self.class_char()
                if high is None or high_shorthand is not None:
                    raise self.error("a range ends at a character, not a class", item_start)
                if ord(high) < ord(low):
                    raise self.error("range out of order", item_start)
                items.append(f"{_literal(low)}-{_literal(high)}")
            else:
                items.append(_literal(low))
        return "[" + ("^" if negated else "") + "".join(items) + "]"

    def class_char(self) -> tuple[str | None, tuple[str, ...] | None]:
        start = self.pos
        char = self.pattern[self.pos]
        self.pos += 1
        if char == "[":
            raise self.error(
                "write \\[ for a literal [ (POSIX classes like [:alpha:] are not supported)",
                start,
            )
        if char == "\x00":
            raise self.error("NUL characters are not allowed", start)
        if char != "\\":
            return char, None
        escaped = self.peek()
        if escaped is None:
            raise self.error("trailing backslash", start)
        self.pos += 1
        if escaped in _SHORTHANDS:
            return None, _SHORTHANDS[escaped]
        if escaped.lower() in _SHORTHANDS:
            raise self.error(f"\\{escaped} is not supported inside [...]", start)
        if escaped in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[escaped], None
        if escaped in _PUNCTUATION:
            return escaped, None
        raise self.error(_HINTS.get(escaped, f"\\{escaped} is not supported"), start)


def parse_regex(pattern: str) -> SafeRegex:
    """Check ``pattern`` against the subset and give its canonical form."""
    if not pattern:
        raise RegexSubsetError("the pattern is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexSubsetError(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    canonical = _Parser(pattern).parse()
    regex = SafeRegex(pattern, canonical)
    try:
        regex.compile()
    except re2.error as exc:  # pragma: no cover - the grammar only lets RE2 syntax through
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise RegexSubsetError(f"RE2 rejects the pattern: {detail}") from exc
    return regex
