"""The operator's command line: make one image, check every provider's credentials, or
read a guild's credit usage from the database.

Each command prints its result on stdout and its diagnostics on stderr; a failure is a
CliError, one line with its exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.app import Core, open_core
from bot.errors import (
    ImagineError,
    InvalidRequest,
    NoProviderAvailable,
    ProviderError,
    RateLimited,
    describe,
)
from bot.explain import no_provider, provider_problem
from bot.exports import ledger_csv, tasks_csv
from bot.images import ALLOWED_IMAGES, ImageRefused, probe
from bot.models import GenerationRequest, GenerationResult, ReferenceImage
from bot.money import usd
from bot.settings import PROVIDER_NAMES, PROVIDER_VARIABLES, Settings
from bot.startup import CONFIGURATION, FAILURE, check_keys
from bot.storage.engines import open_store
from bot.storage.records import DAY, LedgerEntry, ProviderSpend, Usage, utc_day

log = logging.getLogger(__name__)

# The request's fields as the operator typed them.
FLAGS = {
    "prompt": "the prompt",
    "aspect_ratio": "--aspect",
    "raw": "--raw",
    "seed": "--seed",
    "output_format": "--format",
    "safety_tolerance": "--tolerance",
    "reference": "--reference",
    "reference_strength": "--strength",
    "count": "--count",
    "provider": "--provider",
}
MAX_RATE_LIMIT_WAIT = 60.0  # longer waits asked by a provider are refused, not sat through
RATE_LIMIT_WAITS = 3


class CliError(Exception):
    """A command failed: one line for stderr, and the exit code."""

    def __init__(self, line: str, exit_code: int = FAILURE) -> None:
        super().__init__(line)
        self.line = line
        self.exit_code = exit_code


def flag_error(error: InvalidRequest, given: dict[str, object]) -> CliError:
    """A refused option, named as the operator typed it, with what is allowed."""
    field = error.field or ""
    flag = FLAGS.get(field, field or "the request")
    value = given.get(field)
    shown = f"{flag} {value}" if value is not None and field not in ("prompt", "raw") else flag
    allowed = f"; allowed: {error.allowed}" if error.allowed else ""
    return CliError(f"{shown} is not valid: {error.detail}{allowed}", CONFIGURATION)


def check_output(output: Path) -> None:
    """Refuse an output path that cannot be written, before anything is submitted (and paid)."""
    folder = output.parent
    nothing = "nothing was submitted"
    if output.is_dir():
        raise CliError(
            f"-o {output} is a folder: give a file name, e.g. {output / 'image.jpg'} ({nothing})",
            CONFIGURATION,
        )
    if not folder.exists():
        raise CliError(
            f"-o {output}: the folder {folder} does not exist: create it or choose another "
            f"-o ({nothing})",
            CONFIGURATION,
        )
    if not folder.is_dir():
        raise CliError(f"-o {output}: {folder} is not a folder ({nothing})", CONFIGURATION)
    if not os.access(folder, os.W_OK):
        raise CliError(
            f"-o {output}: the folder {folder} is not writable by this user ({nothing})",
            CONFIGURATION,
        )


def say(line: str) -> None:
    """A diagnostic line for the operator (stderr, so stdout keeps only results)."""
    print(f"imagine-bot: {line}", file=sys.stderr, flush=True)


async def generate_command(args: argparse.Namespace, settings: Settings) -> int:
    """``imagine-bot generate``: check everything that can be checked, then make the image."""
    given = {
        "aspect_ratio": args.aspect,
        "seed": args.seed,
        "output_format": args.output_format,
        "safety_tolerance": args.tolerance,
        "count": args.count,
        "reference": args.reference,
        "reference_strength": args.strength,
        "provider": args.provider,
    }
    try:
        request = build_request(
            args.prompt,
            aspect=args.aspect,
            raw=args.raw,
            seed=args.seed,
            output_format=args.output_format,
            tolerance=args.tolerance,
            count=args.count,
            reference=args.reference,
            strength=args.strength,
            output=args.output,
            max_tolerance=settings.max_safety_tolerance,
        )
    except InvalidRequest as exc:
        raise flag_error(exc, given) from exc
    check_output(args.output)
    if not settings.enabled_providers():
        raise CliError(
            "no provider is configured: set one of the API key variables, e.g. FAL_KEY, in the "
            "environment or in .env (see README)",
            CONFIGURATION,
        )
    async with open_core(settings) as core:
        try:
            lines = await generate(core, request, provider=args.provider, output=args.output)
        except InvalidRequest as exc:
            raise flag_error(exc, given) from exc
        except NoProviderAvailable as exc:
            log.info("%s", describe(exc))
            raise CliError(no_provider(exc, settings)) from exc
        except ProviderError as exc:
            log.info("%s", describe(exc))
            raise CliError(provider_problem(exc, settings)) from exc
        except ImagineError as exc:
            log.info("%s", describe(exc))
            raise CliError(exc.user_message) from exc
        except OSError as exc:
            raise CliError(f"{exc.strerror or exc}: {exc.filename or ''}") from exc
    print("\n".join(lines))
    return 0


async def providers_command(settings: Settings) -> int:
    """``imagine-bot providers``: the table on stdout, and why it failed on stderr."""
    async with open_core(settings) as core:
        lines, ok = await check_providers(core, settings)
    print("\n".join(lines))
    if not core.router.providers:
        raise CliError(
            "no provider is configured: set at least one key variable above (e.g. FAL_KEY) in "
            f"the environment or in a .env file in {Path.cwd()}",
            CONFIGURATION,
        )
    if not ok:
        raise CliError("a configured provider failed its check (see above)")
    return 0


async def usage_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print credit spend (one guild's) and provider spend (that guild's, or the whole bot's)
    straight from the database; optionally write the ledger and the provider tasks as CSV."""
    try:
        guild = parse_guild(args.guild) if args.guild is not None else None
        since, until = usage_period(args.since, time.time())
    except ValueError as exc:
        raise CliError(str(exc), CONFIGURATION) from exc
    if guild is None and args.csv is not None:
        raise CliError("--csv writes one server's ledger: give --guild ID too", CONFIGURATION)
    path = settings.database_path
    if settings.database_url is None and not path.is_file():
        raise CliError(
            f"no database at {path}: the bot has not run with this DATABASE_PATH yet",
            CONFIGURATION,
        )
    store = await open_store(settings.database())
    try:
        lines: list[str] = []
        entries: list[LedgerEntry] = []
        if guild is not None:
            usage = await store.run(lambda tx: tx.reports.usage(guild, since=since, until=until))
            by_day = await store.run(
                lambda tx: tx.reports.spend_by_day(guild, since=since, until=until)
            )
            if args.csv is not None:
                entries = await store.run(
                    lambda tx: tx.reports.entries(guild, since=since, until=until)
                )
            lines = usage_report(guild, usage, by_day, since=since, until=until)
        spend = await store.run(lambda tx: tx.tasks.spend(since=since, until=until, guild_id=guild))
        rows = (
            await store.run(lambda tx: tx.tasks.rows(since=since, until=until, guild_id=guild))
            if args.tasks is not None
            else []
        )
    finally:
        await store.close()
    lines += spend_report(spend, guild, since=since, until=until)
    for target, text, what in (
        (args.csv, ledger_csv(entries), f"{len(entries)} ledger movements"),
        (args.tasks, tasks_csv(rows), f"{len(rows)} provider tasks"),
    ):
        if target is None:
            continue
        try:
            target.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise CliError(f"{exc.strerror or exc}: {target}") from exc
        lines.append(f"wrote {what} to {target}")
    print("\n".join(lines))
    return 0


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
            field="safety_tolerance",
            allowed=f"0 to {max_tolerance} (MAX_SAFETY_TOLERANCE)",
        )
    fmt = output_format or SUFFIX_FORMATS.get(output.suffix.lower(), "jpeg")
    ref = None
    if reference is not None:
        if reference.startswith(("http://", "https://")):
            ref = ReferenceImage(url=reference)
        else:
            try:
                data = Path(reference).read_bytes()
            except OSError as exc:
                raise InvalidRequest(
                    f"cannot read it ({exc.strerror or exc})",
                    field="reference",
                    allowed="a JPEG, PNG or WebP file, or an http(s) link",
                ) from exc
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
    result = await patient_generate(core, request, provider=provider)
    return [*write_images(result, output), summary(result)]


async def patient_generate(
    core: Core,
    request: GenerationRequest,
    *,
    provider: str | None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> GenerationResult:
    """Generate; when the providers that could make it are rate-limited for up to a minute,
    say so in one line, wait as asked and try again. A longer wait is refused with its time."""
    for _ in range(RATE_LIMIT_WAITS):
        try:
            return await core.router.generate(request, only=provider)
        except NoProviderAvailable as exc:
            limited = [n for n, e in exc.errors.items() if isinstance(e, RateLimited)]
            if not limited or exc.retry_after is None:
                raise
            seconds = max(1, round(exc.retry_after))
            who = ", ".join(limited)
            if exc.retry_after > MAX_RATE_LIMIT_WAIT:
                raise CliError(
                    f"{who} is rate-limiting this key and asked to wait {_duration(seconds)}: "
                    "try again after that"
                ) from exc
            say(f"{who} is rate-limiting this key; waiting {seconds} s as asked, then trying again")
            await sleep(exc.retry_after)
    return await core.router.generate(request, only=provider)


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"


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
    checks = {c.provider: c for c in await check_keys(configured, timeout=settings.http_timeout)}
    lines, all_ok = [], True
    for name in PROVIDER_NAMES:
        url = settings.base_url(name) or "-"
        if name not in configured:
            lines.append(f"{name:<14} not set   set {PROVIDER_VARIABLES[name][0]} to enable")
            continue
        check = checks[name]
        if check.error is None:
            lines.append(f"{name:<14} ok        key accepted in {check.seconds:.2f} s  {url}")
            continue
        all_ok = False
        lines.append(f"{name:<14} FAILED    {provider_problem(check.error, settings)}")
    return lines, all_ok and bool(configured)


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


def spend_report(
    spend: Sequence[ProviderSpend], guild_id: int | None, *, since: float, until: float
) -> list[str]:
    """What the providers bill for the period, per provider: tasks made, images delivered,
    paid tasks that delivered nothing (and why), the money, and what is in doubt."""
    scope = f"guild {guild_id}'s jobs" if guild_id is not None else "every server"
    lines = [f"provider spend for {scope}, {utc_day(since)} to {utc_day(until - 1)} (UTC):"]
    if not spend:
        return [*lines, "  no provider tasks in this period"]
    lines.append(f"  {'provider':<14} {'tasks':>6} {'delivered':>10} {'paid':>5} {'cost':>11}")
    for row in spend:
        lines.append(
            f"  {row.provider:<14} {row.made:>6} {_count(row.delivered_images, 'image'):>10} "
            f"{row.paid:>5} {usd(row.paid_micros):>11}"
        )
        for why, count in sorted(row.undelivered.items()):
            lines.append(f"      {_count(count, 'paid task')} delivered nothing: {why}")
        if row.free:
            lines.append(f"      {_count(row.free, 'task')} not billed by {row.provider}")
        if row.doubt:
            lines.append(
                f"      {_count(row.doubt, 'task')} in doubt (the answer was lost): up to "
                f"{usd(row.doubt_micros)} more; check them on {row.provider}'s dashboard"
            )
    total = sum(row.paid_micros for row in spend)
    doubt = sum(row.doubt_micros for row in spend)
    lines.append(
        f"  total {usd(total)}"
        + (f", and up to {usd(doubt)} in doubt" if doubt else "")
        + " (list prices; set PROVIDER_COSTS to your own)"
    )
    return lines
