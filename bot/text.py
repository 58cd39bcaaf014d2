"""A member's text made inert before others see it: nothing hidden, nothing that reorders.

Removed: control characters (line breaks and tabs become spaces), format characters (the
bidi overrides, embeddings and isolates that can make "gpj.exe" read "exe.jpg", zero-width
spaces and joiners, the byte-order mark, tag characters), the other invisible characters
the blocklist folds away (``safety.INVISIBLE``), and combining marks beyond two on one
letter (the stacks that spill over neighbouring lines). Runs of spaces become one. Pure; the
Discord layer escapes markdown on top of this.
"""

from __future__ import annotations

import unicodedata

from bot.safety import INVISIBLE

MAX_MARKS = 2
_TO_SPACE = frozenset({"Cc", "Zl", "Zp", "Zs"})
_DROPPED = frozenset({"Cf", "Cs"})


def inert(text: str) -> str:
    """``text`` with hidden and display-altering characters removed, as others should see it."""
    out: list[str] = []
    marks = 0
    for char in INVISIBLE.sub("", text):
        category = unicodedata.category(char)
        if category in _TO_SPACE:
            if out and out[-1] != " ":
                out.append(" ")
            marks = 0
        elif category in _DROPPED:
            continue
        elif category.startswith("M"):
            marks += 1
            if marks <= MAX_MARKS:
                out.append(char)
        else:
            marks = 0
            out.append(char)
    return "".join(out).strip()
