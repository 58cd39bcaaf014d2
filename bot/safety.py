"""The bot's own safety rules: the prompt blocklist, the tolerance per channel, NSFW delivery.

Everything here is pure: no I/O, no state beyond the compiled blocklist.

How the blocklist matches
-------------------------
A moderator's phrase and a member's prompt go through the same folding, so that look-alike
spellings meet:

1. Fold characters. Invisible characters (zero-width space/joiners, word joiner, soft hyphen,
   variation selectors, ...) are deleted, so they join the letters around them. NFKD (the
   compatibility mapping of NFKC) turns compatibility forms into plain letters (full-width
   ｂ → b, ligature ﬁ → fi, 𝐛 → b, ① → 1) and splits accents off, which are then dropped
   (á → a). Cross-script look-alikes (Cyrillic а, Greek ο, small capital ᴀ, ...) become the
   Latin letter they imitate, and everything is case-folded. Glyphs that may be either I or l
   (Greek Ι, Cyrillic Ӏ, a capital I right after a lowercase letter as in "bIood", a lowercase
   l among capitals as in "KlLL") become "1", which stands for i or l.
2. Tokens and boundaries. A token is a run of letters, digits and the symbols @ $ ! |.
   Everything else separates tokens. A separator with white space in it is a *hard* boundary
   (an ordinary gap between words); one without (b.a.d, blood-bath, bad_word, don't) is a
   *soft* boundary: the writer may have split one word or joined two. Repeated separators
   count as one.
3. Spelled-out words. A run of two or more single-character tokens ("b a d", "a s s") is a
   word spelled out to slip past the filter: the boundaries inside the run and at its two
   ends become soft, so "b a d word" reads as "bad.word". A lone single character ("a bad
   day") stays an ordinary word: ordinary words are never glued together.
4. Match. An entry matches where its letters appear in order with at most one soft boundary
   between adjacent letters, starting and ending at a boundary or the edge of the prompt.
   Between the words of a multi-word entry any boundary, or none, may stand: "blood bath"
   matches "blood bath", "blood-bath" and "bloodbath". The reverse is deliberately not true:
   the entry "bloodbath" matches "blood-bath" (soft) but not "blood bath", because gluing
   ordinary words together would refuse innocent prompts ("an al" → "anal"). Moderators who
   want both add the spaced form.

Digits and symbols stand for the letters they imitate: 0 o, 1 i or l, 3 e, 4 a, 5 s, 7 t,
@ a, $ s, ! i, | i or l. Rather than guess which letter a 1 means, the entry's i and l
each accept 1 (so "k1ll" matches "kill" and "ki11" too, while "kill" never matches "kiil").
The symbols @ $ ! | may also be plain punctuation, so they count as a boundary as well:
"@badword" and "badword!" match "badword". Digits are read as letters everywhere, so the
entry "ass" also refuses "455".

Because a match starts and ends at a boundary and no boundary falls inside an ordinary
word, "ass" never matches "class", "assistant" or "passage", and "cum" never matches
"cucumber". Inside a spelled-out run the word boundaries are unknown, so any stretch of it
may match: "x b a d y" matches "bad", and so does "a s s e t s" match "ass". Entries in a
script written without spaces (Chinese, Japanese, Thai, ...) match anywhere in the prompt.

The typed phrase's key (``normalize_phrase``) is its folded words joined by one space, with
spelled-out runs joined and digits and symbols turned into letters (a 1 stays 1): "Blood-Bath",
"bl00d  bath" and "b l o o d bath" are all "blood bath". All entries compile into one regular
expression shaped like a trie, so a prompt is checked in a handful of linear passes (0.2–0.3 ms
for a 2000-character prompt against 200 entries); build a Blocklist once per change
of the list, not per prompt (compiling 200 entries takes some 15 ms).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.errors import PromptBlocked
from bot.models import GuildSettings, NsfwPolicy, UnknownNsfw
from bot.text import INVISIBLE

MAX_PHRASE_CHARS = 100

# Combining accents that NFKD splits off Latin, Greek and Cyrillic letters.
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)

# Letters of other scripts (and Latin oddities NFKD leaves alone) that pass for Latin ones.
# Upper- and lowercase are listed separately where they imitate different letters
# (Greek Η looks like H, η like n). "1" means "i or l".
_LOOKALIKE_PAIRS: dict[str, str] = {
    # Cyrillic
    "а": "a", "А": "a", "в": "b", "В": "b", "г": "r", "е": "e", "Е": "e", "ԍ": "g",
    "Ԍ": "g", "һ": "h", "Һ": "h", "н": "h", "Н": "h", "і": "i", "І": "1", "ј": "j",
    "Ј": "j", "к": "k", "К": "k", "ӏ": "1", "Ӏ": "1", "м": "m", "М": "m", "о": "o",
    "О": "o", "р": "p", "Р": "p", "ԛ": "q", "Ԛ": "q", "с": "c", "С": "c", "ѕ": "s",
    "Ѕ": "s", "т": "t", "Т": "t", "у": "y", "У": "y", "ү": "y", "Ү": "y", "х": "x",
    "Х": "x", "ԁ": "d", "ԝ": "w", "Ԝ": "w", "ѡ": "w",
    # Greek
    "α": "a", "Α": "a", "β": "b", "Β": "b", "γ": "y", "δ": "d", "ε": "e", "Ε": "e",
    "Ζ": "z", "η": "n", "Η": "h", "ι": "i", "Ι": "1", "κ": "k", "Κ": "k", "μ": "u",
    "Μ": "m", "ν": "v", "Ν": "n", "ο": "o", "Ο": "o", "ρ": "p", "Ρ": "p", "τ": "t",
    "Τ": "t", "υ": "u", "Υ": "y", "χ": "x", "Χ": "x", "ω": "w", "ϲ": "c", "Ϲ": "c",
    "ϳ": "j",
    # Latin letters without a decomposition
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ɨ": "i", "Ɨ": "i", "ʉ": "u",
    "Ʉ": "u", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d",
    "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t", "ƀ": "b", "Ƀ": "b", "ǀ": "1",
    "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
    # Latin small capitals
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h",
    "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p",
    "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}  # fmt: skip
_LOOKALIKES = str.maketrans(_LOOKALIKE_PAIRS)

# A capital I after a lowercase letter ("bIood"), or a lowercase l after a capital and not
# before a lowercase letter ("KlLL"): either may stand for the other.
_I_OR_L = re.compile(r"I(?<=[a-z]I)|l(?<=[A-Z]l)(?![a-z])")

# Digits and symbols read as letters in a blocklist key ("1" stays: it means i or l).
_LEET = str.maketrans("03457@$!|", "oeastasi1")

# What each letter of an entry accepts in a prompt.
_CLASSES: dict[str, str] = {
    "a": "[a4@]",
    "e": "[e3]",
    "i": "[i1!|]",
    "l": "[l1|]",
    "o": "[o0]",
    "s": "[s5$]",
    "t": "[t7]",
    "1": "[1il!|]",
}
_EDGE = " .@$!|"  # what may stand just before or after a match
_SOFT = r"\.?"
_ANY_GAP = "[ .]?"

_TOKEN = re.compile(r"[\w@$!|]+")
_NON_SPACE_SEPARATORS = re.compile(r"[^\w@$!|\s]+")
_GAPS = re.compile(r"\.?\s[\s.]*+")  # separators with white space in them
# Two or more single-character tokens, with the boundaries around them.
_SPELLED_OUT = re.compile(r"[ .][^ .](?:[ .][^ .](?![^ .]))+[ .]?")

# Scripts written without spaces between words: entries using them match anywhere.
_UNSPACED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _fold(text: str) -> str:
    """Fold look-alike spellings together: step 1 of the module docstring."""
    if not text.isascii():
        text = INVISIBLE.sub("", text)
        text = _MARKS.sub("", unicodedata.normalize("NFKD", text)).translate(_LOOKALIKES)
    text = _I_OR_L.sub("1", text).casefold()
    if not text.isascii():
        text = _MARKS.sub("", unicodedata.normalize("NFKD", text))
    return text.replace("_", "-")


def _soften(spelled: re.Match[str]) -> str:
    return spelled.group().replace(" ", ".")


def _layout(prompt: str) -> str:
    """The folded prompt as tokens joined by " " (hard) and "." (soft) boundaries."""
    text = _GAPS.sub(" ", _NON_SPACE_SEPARATORS.sub(".", _fold(prompt))).strip(" .")
    # The leading space lets the spelled-out search start on a boundary character.
    return _SPELLED_OUT.sub(_soften, " " + text)[1:]


def _entry_words(phrase: str) -> tuple[str, ...]:
    """The words of a blocklist entry, with spelled-out runs ("b a d") joined into one."""
    tokens = [token.strip("!|") for token in _TOKEN.findall(_fold(phrase))]
    words: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        words.extend(["".join(run)] if len(run) > 1 else run)
        run = []
        if token:
            words.append(token)
    return tuple(word.translate(_LEET) for word in words)


def normalize_phrase(text: str) -> str:
    """The key a blocklist entry is stored under, equal for look-alike spellings of it."""
    typed = text.strip()
    if len(typed) > MAX_PHRASE_CHARS:
        raise ValueError(
            f"A blocked phrase can be at most {MAX_PHRASE_CHARS} characters "
            f"(this one has {len(typed)})."
        )
    key = " ".join(_entry_words(typed))
    if not key:
        raise ValueError("A blocked phrase needs at least one letter or digit.")
    if len(key) > MAX_PHRASE_CHARS:
        raise ValueError(
            f"A blocked phrase can be at most {MAX_PHRASE_CHARS} characters once "
            "special characters are spelled out."
        )
    return key


def _unspaced(key: str) -> bool:
    return any(low <= ord(char) <= high for char in key for low, high in _UNSPACED_RANGES)


def _atoms(words: Sequence[str], *, unspaced: bool) -> list[str]:
    """An entry as a list of regex pieces: letters and the gaps allowed between them."""
    inner = _ANY_GAP if unspaced else _SOFT
    atoms: list[str] = []
    for position, word in enumerate(words):
        if position:
            atoms.append(_ANY_GAP)
        for offset, char in enumerate(word):
            if offset:
                atoms.append(inner)
            atoms.append(_CLASSES.get(char) or re.escape(char))
    return atoms


@dataclass
class _Node:
    """A trie node: the regex pieces that may follow, and the entry that may end here."""

    children: dict[str, _Node] = field(default_factory=dict)
    entry: int | None = None

    def insert(self, atoms: Sequence[str], entry: int) -> None:
        node = self
        for atom in atoms:
            node = node.children.setdefault(atom, _Node())
        if node.entry is None:
            node.entry = entry

    def render(self, end: str) -> str:
        """The trie as one regex; each entry ends in an empty group named after its number."""
        branches = [atom + child.render(end) for atom, child in self.children.items()]
        if self.entry is not None:
            branches.append(f"{end}(?P<e{self.entry}>)")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


class Blocklist:
    """A guild's blocked phrases, compiled once so each prompt is checked in one pass."""

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self._phrases: list[str] = []
        spaced, unspaced = _Node(), _Node()
        seen: set[str] = set()
        for _stored_key, phrase in entries:
            # The pattern comes from the phrase as typed, so better folding reaches old entries.
            try:
                key = normalize_phrase(phrase)
            except ValueError:
                continue
            if key in seen:
                continue
            seen.add(key)
            is_unspaced = _unspaced(key)
            atoms = _atoms(key.split(" "), unspaced=is_unspaced)
            (unspaced if is_unspaced else spaced).insert(atoms, len(self._phrases))
            self._phrases.append(phrase)
        edge = re.escape(_EDGE)
        branches = []
        if spaced.children:
            branches.append(f"(?<![^{edge}])" + spaced.render(f"(?![^{edge}])"))
        if unspaced.children:
            branches.append(unspaced.render(""))
        self._pattern = re.compile("|".join(branches)) if branches else None

    @classmethod
    def from_phrases(cls, phrases: Iterable[str]) -> Blocklist:
        """A blocklist from phrases as moderators typed them."""
        return cls((phrase, phrase) for phrase in phrases)

    def __len__(self) -> int:
        return len(self._phrases)

    def match(self, prompt: str) -> str | None:
        """The blocked phrase (as typed) that the prompt contains, or None."""
        if self._pattern is None:
            return None
        found = self._pattern.search(_layout(prompt))
        if found is None or found.lastgroup is None:
            return None
        return self._phrases[int(found.lastgroup[1:])]

    def check(self, prompt: str) -> None:
        """Refuse a blocked prompt before anything is charged."""
        phrase = self.match(prompt)
        if phrase is not None:
            raise PromptBlocked(phrase)


def request_tolerance(settings: GuildSettings, *, age_restricted: bool, ceiling: int = 6) -> int:
    """The safety tolerance to request: the guild's, or its ceiling in age-restricted channels,
    never above the operator's ``ceiling`` (MAX_SAFETY_TOLERANCE)."""
    tolerance = settings.safety_tolerance
    if age_restricted:
        tolerance = max(tolerance, settings.nsfw_channel_tolerance)
    return min(tolerance, ceiling)


@dataclass(frozen=True)
class PostedImage:
    """An image to post, by its index in the result, hidden behind a spoiler or not."""

    index: int
    spoiler: bool


@dataclass(frozen=True)
class DeliveryPlan:
    """What to post, what to hold back, what to charge and what to tell the member.

    ``verdicts`` says, for the embed, who judged the images: the provider, the bot's
    classifier, or nobody (then the server's policy for unknown verdicts applied).
    """

    post: tuple[PostedImage, ...]
    withheld: tuple[int, ...]
    charged_images: int
    notice: str | None
    verdicts: str | None = None


def _count(number: int) -> str:
    return f"{number} image was" if number == 1 else f"{number} images were"


def _notice(
    spoilered: tuple[int, int], withheld: tuple[int, int], posted_unknown: int, *, refunded: bool
) -> str | None:
    """The member's sentence about NSFW handling; each pair counts (judged NSFW, not judged)."""
    sentences = []
    flagged, unjudged = spoilered
    if flagged:
        shown = "is shown as a spoiler" if flagged == 1 else "are shown as spoilers"
        sentences.append(f"{_count(flagged)} judged NSFW and {shown}.")
    if unjudged:
        shown = "is shown as a spoiler" if unjudged == 1 else "are shown as spoilers"
        sentences.append(
            f"{_count(unjudged)} not checked for NSFW and {shown}, as this server asks."
        )
    if posted_unknown:
        sentences.append(
            f"{_count(posted_unknown)} not checked for NSFW and posted as this server asks."
        )
    charge = "you were not charged" if refunded else "you were still charged"
    for count, why in zip(withheld, ("judged NSFW", "not checked for NSFW"), strict=True):
        if count:
            verb, pronoun = ("is", "it") if count == 1 else ("are", "them")
            sentences.append(
                f"{_count(count)} {why} and {verb} not shown outside age-restricted channels; "
                f"{charge} for {pronoun}."
            )
    return " ".join(sentences) or None


def verdict_line(sources: Sequence[str | None]) -> str | None:
    """Who judged the images, for the embed: the provider, the bot's classifier, or nobody."""
    if not sources:
        return None
    names = {"provider": "the provider", "bot": "the bot's classifier", None: "not possible"}
    return ", ".join(sorted({names.get(source, str(source)) for source in sources}))


def plan_delivery(
    verdicts: Sequence[bool | None],
    *,
    policy: NsfwPolicy,
    unknown: UnknownNsfw = UnknownNsfw.SPOILER,
    age_restricted: bool,
    refund_blocked: bool,
) -> DeliveryPlan:
    """Decide how each image is delivered from its NSFW verdict and the guild's rules.

    Flagged: a spoiler, or held back outside age-restricted channels under ``BLOCK``.
    Unknown (no flag from the provider, no verdict from the bot): posted in age-restricted
    channels, elsewhere as ``unknown`` says. Held-back images are refunded if the guild says so.
    """
    post: list[PostedImage] = []
    withheld: list[int] = []
    unjudged: set[int] = set()
    rules = {UnknownNsfw.POST: "post", UnknownNsfw.SPOILER: "spoiler", UnknownNsfw.BLOCK: "block"}
    for index, verdict in enumerate(verdicts):
        if verdict is None and not age_restricted:
            unjudged.add(index)
            rule = rules[unknown]
        elif not verdict:
            rule = "post"
        elif policy == NsfwPolicy.BLOCK and not age_restricted:
            rule = "block"
        else:
            rule = "spoiler"
        if rule == "block":
            withheld.append(index)
        else:
            post.append(PostedImage(index, spoiler=rule == "spoiler"))

    def split(indices: Iterable[int]) -> tuple[int, int]:
        listed = list(indices)
        later = sum(i in unjudged for i in listed)
        return len(listed) - later, later

    spoilered = split(image.index for image in post if image.spoiler)
    posted_unknown = split(image.index for image in post if not image.spoiler)[1]
    return DeliveryPlan(
        post=tuple(post),
        withheld=tuple(withheld),
        charged_images=len(post) + (0 if refund_blocked else len(withheld)),
        notice=_notice(spoilered, split(withheld), posted_unknown, refunded=refund_blocked),
    )
