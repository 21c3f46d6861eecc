"""Case folding and LIKE escaping shared by the two compilers.

Case-insensitive comparisons compare ``fold(text)``: Unicode full lowercase mapping
(Python's ``str.lower``; ICU's root-locale ``lower`` in PostgreSQL) with the final sigma
(U+03C2) then mapped to the small sigma (U+03C3). The sigma step makes the fold independent
of context (``lower`` picks one sigma or the other from the neighbouring letters), so fold
works character by character and "contains" means the same on folded text in both engines;
it also lets a needle of a capital sigma match a word that ends in one.
"""

from __future__ import annotations

# Both compilers rely on these exact characters.
FINAL_SIGMA = "\u03c2"
SIGMA = "\u03c3"
LIKE_ESCAPE = "\\"


def fold(text: str) -> str:
    lowered = text.lower()
    return lowered.replace(FINAL_SIGMA, SIGMA) if FINAL_SIGMA in lowered else lowered


def like_escape(text: str) -> str:
    """Escape LIKE's wildcards ``%`` and ``_`` and the escape character itself."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
