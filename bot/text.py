"""A member's text made inert before others see it: nothing hidden, nothing that reorders.

Removed: control characters (line breaks and tabs become spaces), format characters (the
bidi overrides, embeddings and isolates that can make "gpj.exe" read "exe.jpg", zero-width
spaces and joiners, the byte-order mark, tag characters), the other invisible characters
the blocklist folds away too (``INVISIBLE``), and combining marks beyond two on one
letter (the stacks that spill over neighbouring lines). Runs of spaces become one. Pure; the
Discord layer escapes markdown on top of this.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

MAX_MARKS = 2
_TO_SPACE = frozenset({"Cc", "Zl", "Zp", "Zs"})
_DROPPED = frozenset({"Cf", "Cs"})

# Characters that show nothing; the blocklist (``bot.safety``) deletes them before matching.
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, joiners, direction marks
    (0x202A, 0x202E),  # direction embeddings
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # direction isolates, deprecated format characters
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0x1D173, 0x1D17A),  # musical formatting
    (0xE0000, 0xE007F),  # tags
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
INVISIBLE = re.compile(
    "[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _INVISIBLE_RANGES) + "]"
)


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


def N_(template: str) -> str:
    """Marks an English template for the catalogues (``cogs/locales``); returns it unchanged."""
    return template


class Phrase:
    """A sentence for a member: an English template and its values, kept apart so the Discord
    layer can show it in the member's language (``cogs.i18n``); ``str()`` is the English.

    The template uses ``str.format`` fields (``"needs {needed} credits"``); a value may be a
    Phrase itself, translated in turn. A template without values is shown as written.
    """

    __slots__ = ("template", "values")

    def __init__(self, template: str, /, **values: object) -> None:
        self.template = template
        self.values = values

    def render(self, translate: Callable[[str], str]) -> str:
        """The sentence with ``translate`` applied to its template and to every Phrase value."""
        text = translate(self.template)
        if not self.values:
            return text
        shown = {
            key: value.render(translate) if isinstance(value, Phrase) else value
            for key, value in self.values.items()
        }
        return text.format(**shown)

    def __str__(self) -> str:
        return self.render(lambda template: template)

    def __repr__(self) -> str:
        return f"Phrase({self.template!r}, **{self.values!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Phrase):
            return NotImplemented
        return (self.template, self.values) == (other.template, other.values)

    def __hash__(self) -> int:
        return hash(self.template)
