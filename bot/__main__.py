"""``imagine-bot`` / ``python -m bot``: the operator's entry point."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from bot import cli
from bot.app import open_core
from bot.errors import ImagineError
from bot.exports import ledger_csv
from bot.logs import setup_logging
from bot.models import ASPECT_RATIOS
from bot.providers.base import describe
from bot.settings import PROVIDER_NAMES, Settings, SettingsError, load_settings
from bot.storage import reports
from bot.storage.db import Database, StorageError

log = logging.getLogger("bot")


def parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    root = argparse.ArgumentParser(prog="imagine-bot", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="make an image from the command line")
    gen.add_argument("prompt")
    gen.add_argument(
        "--aspect",
        default="1:1",
        choices=ASPECT_RATIOS,
        metavar="W:H",
        help=f"aspect ratio, one of {', '.join(ASPECT_RATIOS)} (default 1:1)",
    )
    gen.add_argument(
        "--provider",
        choices=PROVIDER_NAMES,
        help="use only this provider (default: the configured order, with failover)",
    )
    gen.add_argument("--raw", action="store_true", help="FLUX raw mode: less processed look")
    gen.add_argument("--seed", type=int, help="seed for a repeatable image")
    gen.add_argument(
        "--format",
        dest="output_format",
        choices=("jpeg", "png"),
        help="file format (default: from -o's suffix, else jpeg)",
    )
    gen.add_argument(
        "--tolerance",
        type=int,
        default=2,
        help="safety tolerance, 0 strictest … 6 most permissive (default 2)",
    )
    gen.add_argument("--count", type=int, default=1, help="number of images, 1–4")
    gen.add_argument("--reference", help="reference image: a file or an http(s) link")
    gen.add_argument(
        "--strength",
        type=float,
        default=0.1,
        help="how strongly the reference steers, 0–1 (default 0.1)",
    )
    gen.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("image.jpg"),
        help="where to write the image (default image.jpg)",
    )

    commands.add_parser("providers", help="list providers and check each one's credentials")
    usage = commands.add_parser(
        "usage", help="a guild's credit spend from the database (no Discord, no provider keys)"
    )
    usage.add_argument("--guild", required=True, metavar="ID", help="the server's id")
    usage.add_argument(
        "--since", metavar="DATE", help="first UTC day, YYYY-MM-DD (default: the last 30 days)"
    )
    usage.add_argument("--csv", type=Path, metavar="FILE", help="also write the ledger as CSV")
    commands.add_parser("run", help="run the Discord bot (needs DISCORD_TOKEN)")
    return root


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 2 on bad settings or arguments, 1 when the command failed."""
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"imagine-bot: bad setting: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.secrets())
    if args.command == "run":
        return _run_bot(settings)
    try:
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        return 130


def _run_bot(settings: Settings) -> int:
    """Start the Discord bot; refuses at once, in one line, what would make it useless."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print(
            "imagine-bot: DISCORD_TOKEN is not set: create a bot at "
            "https://discord.com/developers/applications and put its token in .env",
            file=sys.stderr,
        )
        return 2
    if not settings.enabled_providers():
        print(
            "imagine-bot: no image provider is configured: set at least one of the API key "
            "variables (see README)",
            file=sys.stderr,
        )
        return 2
    from cogs.client import run  # the Discord layer, imported only to run the bot

    try:
        return asyncio.run(run(settings))
    except StorageError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return 2


async def _usage(args: argparse.Namespace, settings: Settings) -> int:
    """Print a guild's spend (and write its ledger) straight from the database."""
    try:
        guild = cli.parse_guild(args.guild)
        since, until = cli.usage_period(args.since, time.time())
    except ValueError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return 2
    path = settings.database_path
    if not path.is_file():
        print(
            f"imagine-bot: no database at {path}: the bot has not run with this DATABASE_PATH yet",
            file=sys.stderr,
        )
        return 2
    try:
        db = await Database.open(path)
    except StorageError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return 2
    try:
        usage = await db.read(lambda c: reports.usage(c, guild, since=since, until=until))
        by_day = await db.read(lambda c: reports.spend_by_day(c, guild, since=since, until=until))
        entries = (
            await db.read(lambda c: reports.entries(c, guild, since=since, until=until))
            if args.csv is not None
            else []
        )
    finally:
        await db.close()
    lines = cli.usage_report(guild, usage, by_day, since=since, until=until)
    if args.csv is not None:
        try:
            args.csv.write_text(ledger_csv(entries), encoding="utf-8", newline="")
        except OSError as exc:
            print(f"imagine-bot: {exc.strerror or exc}: {args.csv}", file=sys.stderr)
            return 1
        lines.append(f"wrote {len(entries)} ledger movements to {args.csv}")
    print("\n".join(lines))
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "usage":
        return await _usage(args, settings)
    if args.command == "providers":
        async with open_core(settings) as core:
            lines, ok = await cli.check_providers(core, settings)
        print("\n".join(lines))
        return 0 if ok else 1
    try:
        request = cli.build_request(
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
        async with open_core(settings) as core:
            if not core.router.providers:
                print(
                    "imagine-bot: no provider is configured; set one of the API key variables "
                    "(see README)",
                    file=sys.stderr,
                )
                return 2
            lines = await cli.generate(core, request, provider=args.provider, output=args.output)
    except ImagineError as exc:
        log.info("%s", describe(exc))
        print(f"imagine-bot: {exc.user_message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"imagine-bot: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
