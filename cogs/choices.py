"""Options left out of /imagine, filled from saved defaults: explicit > member > channel > server.

Resolved here, at the Discord boundary, into a plain GenerationRequest; the pipeline and the
providers never see where a value came from. ``applied`` names each value a default gave
(field → "yours" or "channel"), for the result's embed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.models import Defaults, GenerationRequest, Privacy

YOURS, CHANNEL = "yours", "channel"
# How the embed names each field a default filled in.
FIELD_NAMES = {
    "aspect_ratio": "aspect",
    "raw": "raw",
    "output_format": "format",
    "count": "count",
    "private": "private",
    "suffix": "suffix",
}


@dataclass(frozen=True)
class Resolved:
    """The request's fields, the privacy asked for, and which defaults filled them in."""

    fields: dict[str, Any]
    private: Privacy
    applied: dict[str, str] = field(default_factory=dict)


def resolve(explicit: dict[str, Any], member: Defaults, channel: Defaults) -> Resolved:
    """Fill each option left out (None) from the member's defaults, then the channel's; the
    server's own default (GenerationRequest's) when neither has one. A channel's suffix is
    appended to the prompt."""
    fields = {k: v for k, v in explicit.items() if v is not None}
    applied: dict[str, str] = {}
    for name in ("aspect_ratio", "raw", "output_format", "count", "private"):
        if name in fields:
            continue
        for source, saved in ((YOURS, member), (CHANNEL, channel)):
            value = getattr(saved, name)
            if value is not None:
                fields[name], applied[name] = value, source
                break
    private = Privacy(fields.pop("private", Privacy.OFF))
    if channel.suffix and "prompt" in fields:
        fields["prompt"] = f"{fields['prompt'].rstrip()} {channel.suffix}"
        applied["suffix"] = CHANNEL
    return Resolved(fields, private, applied)


def applied_text(applied: dict[str, str], request: GenerationRequest, suffix: str | None) -> str:
    """One line for the embed: each value a default gave and whose default it was."""
    parts = []
    for name, source in applied.items():
        if name == "suffix":
            value = f"“{suffix}”" if suffix else ""
        elif name == "private":
            continue
        else:
            value = str(getattr(request, name))
            value = {"True": "on", "False": "off"}.get(value, value)
        parts.append(f"{FIELD_NAMES[name]} {value} ({source})".replace("  ", " "))
    return ", ".join(parts)
