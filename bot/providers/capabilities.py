"""What a provider can serve exactly, and how a request maps onto it (the plan).

A caller checks ``Capabilities.refusals`` before submitting; ``make_plan`` then says
openly what is adapted (several tasks for several images, a tolerance lowered to the
provider's range), so nothing is changed silently.

A guild's safety tolerance is a ceiling, never loosened: a provider whose strictest
setting is above it (fal, Replicate and AIML start at 1), or that cannot take a
tolerance at all (its own filter is counted as BFL's default, 2), is skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from bot.errors import InvalidRequest
from bot.models import MAX_PROMPT_CHARS, MAX_SEED, GenerationRequest, OutputFormat

# A provider without a tolerance setting filters as BFL does by default.
OWN_FILTER_TOLERANCE = 2


@dataclass(frozen=True)
class Capabilities:
    """What a provider can serve exactly; checked before anything is sent."""

    aspect_ratios: frozenset[str]
    formats: frozenset[OutputFormat] = frozenset(OutputFormat)
    max_images_per_task: int = 1
    reference_bytes: bool = False
    reference_url: bool = False
    safety_tolerance: tuple[int, int] | None = None
    # The API takes the tolerance as a string ("1"–"6") rather than an integer.
    tolerance_as_string: bool = False
    raw: bool = True
    seed_range: tuple[int, int] = (0, MAX_SEED)
    cancel: bool = False
    resumable: bool = True
    max_prompt_chars: int = MAX_PROMPT_CHARS
    max_concurrent_tasks: int | None = None
    # The provider's own prompt enhancement: the body field (a boolean) that asks for it.
    enhance_field: str | None = None
    # How a submit whose answer was lost can be settled: by finding the task again from the
    # attempt's token (a list call), or by repeating the submit, which the provider de-duplicates.
    lookup: bool = False
    idempotent_submit: bool = False
    # Task outcomes the provider does not bill ("moderated", "failed"), per its own terms.
    free_outcomes: frozenset[str] = frozenset()
    # The provider's list price per image in US dollars, and whether it is published.
    usd_per_image: Decimal = Decimal("0.06")
    price_published: bool = True

    def bills(self, outcome: str) -> bool:
        """Whether the provider charges for a task that ended this way ("failed", ...)."""
        return outcome not in self.free_outcomes

    @property
    def settles_unknown(self) -> bool:
        """Whether a lost submit answer can be settled instead of written off."""
        return self.lookup or self.idempotent_submit

    def refusals(self, request: GenerationRequest) -> list[str]:
        """Why this provider cannot serve ``request`` exactly (empty when it can)."""
        why: list[str] = []
        if request.aspect_ratio not in self.aspect_ratios:
            why.append(
                f"aspect ratio {request.aspect_ratio} not offered "
                f"(offers {', '.join(sorted(self.aspect_ratios, key=_ratio))})"
            )
        if request.output_format not in self.formats:
            why.append(f"cannot make {request.output_format.value}")
        if request.raw and not self.raw:
            why.append("cannot make raw images")
        if request.enhance and self.enhance_field is None:
            why.append("cannot enhance the prompt")
        if (
            request.seed is not None
            and not self.seed_range[0] <= request.seed <= self.seed_range[1]
        ):
            why.append(f"seed must be from {self.seed_range[0]} to {self.seed_range[1]}")
        if (why_not := self.tolerance_refusal(request.safety_tolerance)) is not None:
            why.append(why_not)
        if len(request.prompt) > self.max_prompt_chars:
            why.append(f"prompt longer than {self.max_prompt_chars} characters")
        ref = request.reference
        if ref is not None:
            if not (self.reference_bytes or self.reference_url):
                why.append("cannot take a reference image")
            elif ref.data is not None and not self.reference_bytes:
                why.append("takes a reference image only as a link")
            elif ref.url is not None and not self.reference_url:
                why.append("takes a reference image only as an upload")
        return why

    def tolerance_sent(self, tolerance: int) -> int | None:
        """The tolerance this provider is sent for ``tolerance``: the same or stricter, within
        its range; None when it takes none. Ask ``tolerance_refusal`` first."""
        if self.safety_tolerance is None:
            return None
        return min(self.safety_tolerance[1], tolerance)

    def wire_tolerance(self, tolerance: int) -> int | str:
        """A tolerance as this provider's API takes it: an integer, or its string."""
        return str(tolerance) if self.tolerance_as_string else tolerance

    def tolerance_refusal(self, tolerance: int) -> str | None:
        """Why this provider would loosen ``tolerance`` (None when it can honour it)."""
        if self.safety_tolerance is None:
            if tolerance < OWN_FILTER_TOLERANCE:
                return (
                    f"cannot apply safety tolerance {tolerance}: it takes no tolerance and its "
                    f"own filter counts as {OWN_FILTER_TOLERANCE}"
                )
            return None
        lowest = self.safety_tolerance[0]
        if tolerance < lowest:
            return f"cannot apply safety tolerance {tolerance}: its strictest is {lowest}"
        return None


def _ratio(text: str) -> float:
    w, h = text.split(":")
    return -int(w) / int(h)


@dataclass(frozen=True)
class Plan:
    """How a request maps onto a provider: tasks, seeds, tolerance sent, and what was adapted."""

    provider: str
    images_per_task: tuple[int, ...]
    seeds: tuple[int | None, ...]
    safety_tolerance: int | None
    notes: tuple[str, ...] = ()
    token: str = ""


def derived_seed(token: str, index: int, seed_range: tuple[int, int]) -> int:
    """A seed fixed by the attempt's token: the task can be recognised in a provider's list."""
    lo, hi = seed_range
    digest = hashlib.sha256(f"{token}:{index}".encode()).digest()
    return lo + int.from_bytes(digest[:8], "big") % (hi - lo + 1)


def make_plan(name: str, caps: Capabilities, request: GenerationRequest, token: str = "") -> Plan:
    """Split the request into tasks and fit the tolerance, saying openly what changed.

    The tolerance is only ever made stricter; InvalidRequest if it would be loosened
    (a caller that checked ``refusals`` first never sees that). Where the provider can look
    a task up (``caps.lookup``) and the member gave no seed, each task gets a seed derived
    from ``token``, so a task whose answer was lost can be found.
    """
    if (why := caps.tolerance_refusal(request.safety_tolerance)) is not None:
        raise InvalidRequest(f"{name} {why}", field="safety_tolerance", provider=name)
    notes: list[str] = []
    per = caps.max_images_per_task
    sizes = [per] * (request.count // per) + ([request.count % per] if request.count % per else [])
    if len(sizes) > 1:
        notes.append(f"{request.count} images made as {len(sizes)} separate {name} tasks")
    if request.seed is None and caps.lookup and token:
        seeds: list[int | None] = [
            derived_seed(token, i, caps.seed_range) for i in range(len(sizes))
        ]
    elif request.seed is None:
        seeds = [None] * len(sizes)
    else:
        lo, hi = caps.seed_range
        seeds = [lo + (request.seed - lo + i) % (hi - lo + 1) for i in range(len(sizes))]
        if len(sizes) > 1:
            notes.append(f"seeds {seeds[0]}…{seeds[-1]}, one per task")
    tolerance = caps.tolerance_sent(request.safety_tolerance)
    if caps.safety_tolerance is None:
        notes.append(
            f"{name} cannot set a safety tolerance; its own filter (as strict as "
            f"{OWN_FILTER_TOLERANCE}) applies"
        )
    else:
        lo, hi = caps.safety_tolerance
        if tolerance != request.safety_tolerance:
            notes.append(
                f"safety tolerance {request.safety_tolerance} sent as {tolerance}, stricter "
                f"({name} accepts {lo}–{hi})"
            )
    return Plan(name, tuple(sizes), tuple(seeds), tolerance, tuple(notes), token)
