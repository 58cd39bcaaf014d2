"""imagine-bot / python -m bot: the operator's entry point.

Results go to stdout, diagnostics to stderr. Every failure is one line; the exit code
is 2 when a setting, an option or a file must be changed, 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from bot import cli, heartbeat
from bot.logs import setup_logging
from bot.models import ASPECT_RATIOS
from bot.settings import PROVIDER_NAMES, Settings, SettingsError, load_settings
from bot.startup import CONFIGURATION, FAILURE, StartupFailure
from bot.storage.interface import StorageError

log = logging.getLogger("bot")

DESCRIPTION = """\
A Discord bot that makes images with FLUX 1.1 [pro] Ultra through several providers.
Settings come from the environment or a .env file in the working directory (see README).

commands:
  run        run the Discord bot (needs DISCORD_TOKEN and a provider key)
  generate   make an image from the command line and write it to a file
  providers  list the providers and check each configured key (costs nothing)
  usage      credit spend and provider spend (money), read from the database
  backup     copy the database to a new file, safe while the bot runs (SQLite)
  restore    put a backup in place of the database (stop the bot first; SQLite)
  migrate    bring the database's schema up to date (once for a fleet on PostgreSQL)
  copy-db    copy a SQLite database into an empty PostgreSQL database
  health     one line on whether the running bot is alive and connected (exit 0 or 1)

Exit codes: 0 done, 1 failed, 2 a setting, option or file must be changed.
"""


def version() -> str:
    """The installed version (from the package metadata)."""
    try:
        return metadata.version("imagine-bot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (with where to find help), exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print the mistake in one line and exit 2."""
        self.exit(CONFIGURATION, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    verbosity = Parser(add_help=False)
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log progress too (-vv: debug detail and tracebacks); default: warnings and errors",
    )
    root = Parser(
        prog="imagine-bot",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"imagine-bot {version()}")
    root.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    commands = root.add_subparsers(
        dest="command", metavar="COMMAND", help="one of the commands above; COMMAND --help for more"
    )

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, description=text, parents=[verbosity])

    gen = command("generate", "make an image from the command line")
    gen.add_argument("prompt", help="what the image shows")
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

    command("providers", "list providers and check each one's credentials")
    usage = command(
        "usage",
        "credit spend of a server and what the providers bill, from the database "
        "(no Discord, no provider keys)",
    )
    usage.add_argument(
        "--guild", metavar="ID", help="the server's id (default: provider spend for every server)"
    )
    usage.add_argument(
        "--since", metavar="DATE", help="first UTC day, YYYY-MM-DD (default: the last 30 days)"
    )
    usage.add_argument(
        "--csv", type=Path, metavar="FILE", help="also write the server's ledger as CSV"
    )
    usage.add_argument(
        "--tasks",
        type=Path,
        metavar="FILE",
        help="also write every provider task (id, time, state, cost) as CSV, for invoices",
    )
    backup = command("backup", "copy the database to a new file, safe while the bot runs")
    backup.add_argument("file", type=Path, metavar="FILE", help="the new file to write")
    restore = command("restore", "put a backup in place of the database (stop the bot first)")
    restore.add_argument("file", type=Path, metavar="FILE", help="a file made by backup")
    command("health", "whether the running bot is alive and connected (exit 0 or 1)")
    command("migrate", "bring the database's schema up to date, then exit (run also migrates)")
    copy = command("copy-db", "copy a SQLite database into an empty PostgreSQL database")
    copy.add_argument("sqlite", type=Path, metavar="SQLITE_PATH", help="the bot's SQLite file")
    copy.add_argument("url", metavar="DATABASE_URL", help="postgresql://user:password@host/db")
    command("run", "run the Discord bot (needs DISCORD_TOKEN)")
    return root


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code."""
    grammar = parser()
    args, unknown = grammar.parse_known_args(argv)
    if unknown:
        grammar.error(f"unknown option {' '.join(unknown)}")
    if args.command is None:
        grammar.error(
            "give a command: run, generate, providers, usage, backup, restore, health, "
            "migrate or copy-db"
        )
    try:
        settings = load_settings()
    except SettingsError as exc:
        # Docker reserves exit code 2 of a health check: there, any failure is "unhealthy".
        return fail(f"bad setting: {exc}", FAILURE if args.command == "health" else CONFIGURATION)
    debug = settings.log_level == "DEBUG" or args.verbose >= 2
    if args.command == "run":
        setup_logging(settings.log_level, settings.secrets())
    else:
        level = "DEBUG" if debug else "INFO" if args.verbose else "WARNING"
        setup_logging(level, settings.secrets(), cli=True)
        if not args.verbose and not debug:
            # Each failed attempt is logged as it happens; the command's own last line
            # already says what every provider answered, so these are for -v only.
            logging.getLogger("bot.providers.router").setLevel(logging.ERROR)
    try:
        return dispatch(args, settings)
    except KeyboardInterrupt:
        return 130
    except (StartupFailure, cli.CliError) as exc:
        log.debug("what led to the failure", exc_info=exc)
        return fail(exc.line, exc.exit_code)
    except StorageError as exc:
        log.debug("what led to the failure", exc_info=exc)
        return fail(str(exc), CONFIGURATION)
    except Exception as exc:
        log.debug("unexpected error", exc_info=exc)
        return fail(
            f"unexpected {type(exc).__name__}: {exc} (a bug: run with LOG_LEVEL=DEBUG for the "
            "traceback and report it)",
            FAILURE,
        )


def fail(line: str, code: int) -> int:
    """Print one diagnostic line to stderr; the exit code."""
    print(f"imagine-bot: {line}", file=sys.stderr)
    return code


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen command."""
    if args.command == "run":
        return _run_bot(settings)
    if args.command == "health":
        ok, line = heartbeat.verdict(
            heartbeat.read(path := heartbeat.heartbeat_path(settings.database_path)),
            path,
            time.time(),
        )
        print(line)
        return 0 if ok else FAILURE
    if args.command in ("backup", "restore") and settings.database_url is not None:
        return fail(
            f"{args.command} works on a SQLite file, but DATABASE_URL names PostgreSQL: use "
            "pg_dump to back it up and pg_restore (or psql) to restore it",
            CONFIGURATION,
        )
    if args.command == "backup":
        return _backup(settings, args.file)
    if args.command == "restore":
        return _restore(settings, args.file)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "copy-db":
        return _copy_db(args.sqlite, args.url)
    return asyncio.run(_run(args, settings))


def _run_bot(settings: Settings) -> int:
    """Start the Discord bot; refuses at once, in one line, what would make it useless."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        return fail(
            "DISCORD_TOKEN is not set: create a bot at "
            "https://discord.com/developers/applications and put its token in .env",
            CONFIGURATION,
        )
    if not settings.enabled_providers():
        return fail(
            "no image provider is configured: set at least one of the API key variables "
            "(see README)",
            CONFIGURATION,
        )
    from cogs.launcher import run  # the Discord layer, imported only to run the bot

    return asyncio.run(run(settings))


def _backup(settings: Settings, target: Path) -> int:
    from bot.storage.sqlite.backup import backup

    copied = backup(settings.database_path, target)
    print(
        f"backed up {settings.database_path} to {copied.path} (schema {copied.schema}, "
        f"{copied.jobs} jobs, {copied.size / 1e6:.1f} MB) in {copied.seconds:.2f} s"
    )
    return 0


def _restore(settings: Settings, source: Path) -> int:
    from bot.storage.sqlite.backup import restore

    path = heartbeat.heartbeat_path(settings.database_path)
    beat = heartbeat.read(path)
    if beat is not None and time.time() - beat.at < heartbeat.STALE:
        return fail(
            f"the bot is running on {settings.database_path} (pid {beat.pid}): stop it first, "
            "then restore",
            FAILURE,
        )
    copied, aside = restore(source, settings.database_path)
    kept = f"; the previous database is kept as {aside}" if aside else ""
    print(f"restored {source} to {copied.path} (schema {copied.schema}, {copied.jobs} jobs){kept}")
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.storage.engines import open_store

    store = await open_store(settings.database())
    await store.close()
    print(f"the database {store.location} is up to date")
    return 0


def _copy_db(source: Path, url: str) -> int:
    from bot.storage.postgres.copy import copy_database
    from bot.storage.postgres.store import is_url, redact

    if not is_url(url):
        return fail(
            f"{url} is not a PostgreSQL URL: give postgresql://user:password@host:port/database",
            CONFIGURATION,
        )
    if not source.is_file():
        return fail(f"no SQLite database at {source}: give the bot's database file", CONFIGURATION)
    copied = asyncio.run(copy_database(source, url))
    print(
        f"copied {source} to {redact(url)}: {copied.rows['jobs']} jobs, "
        f"{copied.rows['ledger']} ledger legs, {copied.members} members' balances "
        f"(checked: the ledger reconciles) in {copied.seconds:.2f} s; "
        "set DATABASE_URL to it to run the bot there"
    )
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "usage":
        return await cli.usage_command(args, settings)
    if args.command == "providers":
        return await cli.providers_command(settings)
    return await cli.generate_command(args, settings)


if __name__ == "__main__":
    sys.exit(main())
