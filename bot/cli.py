"""The operator's command line: make one image, check every provider's credentials, or
read a guild's credit usage from the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

from bot.app import Core
from bot.errors import BadCredentials, ImagineError, InvalidRequest
from bot.images import ALLOWED_IMAGES, ImageRefused, probe
from bot.models import GenerationRequest, GenerationResult, ReferenceImage
from bot.providers.base import Provider, describe
from bot.settings import PROVIDER_NAMES, PROVIDER_VARIABLES, Settings
from bot.storage.ledger import DAY, utc_day
from bot.storage.reports import Usage

SUFFIX_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}


def build_request(
    prompt: str,
    *,
    aspect: str,
    raw: bool,
    seed: int | None,
    output_format: str | None,
    tolerance: int,
    count: int,
    reference: str | None,
    strength: float,
    output: Path,
    max_tolerance: int = 6,
) -> GenerationRequest:
    """The request the flags describe; the format follows ``-o``'s suffix unless given."""
    if tolerance > max_tolerance:
        raise InvalidRequest(
            f"{tolerance} is above this bot's ceiling",
            field="tolerance",
            allowed=f"0 to {max_tolerance} (MAX_SAFETY_TOLERANCE)",
        )
    fmt = output_format or SUFFIX_FORMATS.get(output.suffix.lower(), "jpeg")
    ref = None
    if reference is not None:
        if reference.startswith(("http://", "https://")):
            ref = ReferenceImage(url=reference)
        else:
            data = Path(reference).read_bytes()
            try:
                info = probe(data)
            except ImageRefused as exc:
                raise InvalidRequest(
                    f"{reference}: {exc}", field="reference", allowed=ALLOWED_IMAGES
                ) from None
            ref = ReferenceImage(data=data, content_type=info.content_type)
    return GenerationRequest.parse(
        prompt=prompt,
        aspect_ratio=aspect,
        raw=raw,
        seed=seed,
        output_format=fmt,
        safety_tolerance=tolerance,
        count=count,
        reference=ref,
        reference_strength=strength,
    )


async def generate(
    core: Core, request: GenerationRequest, *, provider: str | None, output: Path
) -> list[str]:
    """Make the image(s), write them next to ``output``, and describe what happened."""
    if provider is not None and provider not in core.router.providers:
        key_var = PROVIDER_VARIABLES[provider][0]
        raise InvalidRequest(
            f"{provider} is not configured (set {key_var})",
            field="provider",
            allowed=", ".join(core.router.providers) or "none configured",
        )
    result = await core.router.generate(request, only=provider)
    return [*write_images(result, output), summary(result)]


def write_images(result: GenerationResult, output: Path) -> list[str]:
    """Write each image; several get -1, -2… before the suffix. Returns one line per file."""
    lines = []
    many = len(result.images) > 1
    for i, image in enumerate(result.images, start=1):
        stem = f"{output.stem}-{i}" if many else output.stem
        path = output.with_name(f"{stem}.{image.extension}")
        path.write_bytes(image.data)
        flag = "  [flagged NSFW by the provider]" if image.nsfw else ""
        lines.append(f"wrote {path} ({image.width}×{image.height}, {image.content_type}){flag}")
    return lines


def summary(result: GenerationResult) -> str:
    """Seed, provider, time and NSFW flag on one line, then any adaptation notes."""
    seed = result.seed if result.seed is not None else "unknown"
    line = (
        f"seed {seed} · provider {result.provider} · {result.timings.total:.2f} s · "
        f"nsfw {'yes' if result.nsfw else 'no'}"
    )
    return "\n".join([line, *(f"note: {note}" for note in result.notes)])


async def check_providers(core: Core, settings: Settings) -> tuple[list[str], bool]:
    """One line per known provider: not set, ok, or what is wrong. True when all set ones work."""
    configured = core.router.providers
    checks = await asyncio.gather(*(_check(p) for p in configured.values()))
    results = dict(zip(configured, checks, strict=True))
    lines, all_ok = [], True
    for name in PROVIDER_NAMES:
        url = settings.base_url(name) or "-"
        if name not in configured:
            lines.append(f"{name:<14} not set   set {PROVIDER_VARIABLES[name][0]} to enable")
            continue
        ok, detail = results[name]
        all_ok &= ok
        lines.append(f"{name:<14} {'ok' if ok else 'FAILED':<9} {detail}  {url}")
    return lines, all_ok and bool(configured)


async def _check(provider: Provider) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        await provider.check_credentials()
    except BadCredentials:
        return False, "the API key was refused"
    except ImagineError as exc:
        return False, describe(exc)
    return True, f"key accepted in {time.monotonic() - started:.2f} s"


USAGE_DAYS = 30


def parse_guild(text: str) -> int:
    """A guild id as Discord shows it (Developer Mode → Copy Server ID); ValueError if not."""
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise ValueError(f"--guild must be a server id (a positive number), not {text!r}")
    return int(text)


def usage_period(since: str | None, now: float) -> tuple[float, float]:
    """(since, until) for ``usage``: from midnight UTC of ``since`` (YYYY-MM-DD), by default
    the last 30 UTC days as /admin usage counts them, up to the end of today (UTC)."""
    until = (now // DAY + 1) * DAY
    if since is None:
        return until - USAGE_DAYS * DAY, until
    try:
        day = dt.datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueError(f"--since must be a date as YYYY-MM-DD (UTC), not {since!r}") from None
    if day.timestamp() >= until:
        raise ValueError(f"--since {since} is after today (UTC)")
    return day.timestamp(), until


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def usage_report(
    guild_id: int,
    usage: Usage,
    by_day: Sequence[tuple[str, str, int, int]],
    *,
    since: float,
    until: float,
) -> list[str]:
    """The figures /admin usage shows, as plain lines: totals, top users, providers, days."""
    lines = [
        f"guild {guild_id}, {utc_day(since)} to {utc_day(until - 1)} (UTC)",
        f"total: {_count(usage.credits, 'credit')}, {_count(usage.images, 'image')}, "
        f"{_count(usage.jobs, 'job')}",
    ]
    if not usage.jobs:
        return [*lines, "no credits were spent in this period"]
    lines.append("top users:")
    lines += [
        f"  {rank:>2}. {user:<20} {_count(credits, 'credit'):>14} {_count(images, 'image'):>12}"
        for rank, (user, credits, images) in enumerate(usage.top_users, start=1)
    ]
    lines.append("per provider:")
    lines += [
        f"  {name or 'unknown':<24} {_count(credits, 'credit'):>14} {_count(images, 'image'):>12}"
        for name, credits, images in usage.providers
    ]
    lines.append("per day:")
    lines += [
        f"  {day}  {name or 'unknown':<14} {_count(credits, 'credit'):>14} "
        f"{_count(images, 'image'):>12}"
        for day, name, credits, images in by_day
    ]
    return lines
