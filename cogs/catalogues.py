"""Keeps the catalogues whole: what needs translating, and ``python -m cogs.catalogues``.

Two sources make the list of English message ids, and nothing else does:

- the code: every ``N_("...")``, ``Phrase("...")`` and ``tr(locale, "...")`` in ``bot/`` and
  ``cogs/``, found by Babel's extractor;
- the command tree: every command, group and option name (context ``command name``),
  description, and ``locale_str`` choice (context ``choice``), found by asking each command
  for its sync payload, exactly as ``tree.sync`` does.

``python -m cogs.catalogues`` writes ``cogs/locales/messages.pot`` from them, merges it into
every language's ``messages.po`` (new ids arrive untranslated, gone ones are dropped) and
compiles the ``.mo`` files. ``--check`` only reports what is missing, like the test does.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from discord import app_commands

from cogs.i18n import CATALOGUES, DOMAIN, LOCALES, Key, command_key

ROOT = Path(__file__).parents[1]
SOURCES = ("bot", "cogs")
KEYWORDS: dict[str, Any] = {**DEFAULT_KEYWORDS, "tr": (2,), "Phrase": (1,)}


def source_messages() -> dict[Key, list[tuple[str, int]]]:
    """Every marked sentence of ``bot/`` and ``cogs/``, with where it is written."""
    found: dict[Key, list[tuple[str, int]]] = {}
    for package in SOURCES:
        for filename, line, message, _, context in extract_from_dir(
            ROOT / package, keywords=KEYWORDS, comment_tags=()
        ):
            if isinstance(message, str) and message:
                found.setdefault((context, message), []).append((f"{package}/{filename}", line))
    return found


class _Recorder(app_commands.Translator):
    """Notes every string a sync would translate, and translates none."""

    def __init__(self) -> None:
        self.seen: dict[Key, set[str]] = {}
        self.where = ""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        key = command_key(string.message, context)
        if key is None:
            return None
        self.seen.setdefault(key, set()).add(self.where)
        return None


async def tree_messages(tree: app_commands.CommandTree[Any]) -> dict[Key, set[str]]:
    """Every string the tree's sync sends for translation, with the commands that use it."""
    recorder = _Recorder()
    for command in tree.get_commands():
        recorder.where = f"/{command.name}"
        await command.get_translated_payload(tree, recorder)
    return recorder.seen


async def bot_tree_messages() -> dict[Key, set[str]]:
    """The strings of the real bot's command tree (built over a throwaway database)."""
    from pydantic import SecretStr

    from bot.app import open_service
    from bot.settings import Settings
    from cogs.launcher import build_client

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            wavespeed_api_key=SecretStr("unused"),
            database_path=Path(tmp) / "catalogues.db",
        )
        async with open_service(settings) as service:
            bot = build_client(service)
            try:
                await bot.add_parts()
                return await tree_messages(bot.tree)
            finally:
                await bot.close()


def po_path(language: str) -> Path:
    """Where the catalogue of ``language`` lives."""
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(language: str) -> Catalog:
    """The ``.po`` of ``language`` (empty if there is none yet)."""
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN)
    with path.open("rb") as file:
        return read_po(file, locale=language, domain=DOMAIN)


def missing(catalogue: Catalog, wanted: Iterable[Key]) -> list[Key]:
    """The ids of ``wanted`` that ``catalogue`` does not translate (absent, empty or fuzzy)."""
    gaps = []
    for context, message in wanted:
        entry = catalogue.get(message, context=context)
        if entry is None or not entry.string or entry.fuzzy:
            gaps.append((context, message))
    return sorted(gaps, key=lambda key: (key[0] or "", key[1]))


HEADER: dict[str, Any] = {
    "project": "imagine-bot",
    "copyright_holder": "the imagine-bot contributors",
    "msgid_bugs_address": "see README.md, Languages",
    "last_translator": "the imagine-bot contributors",
    "charset": "utf-8",
}


def template(messages: Mapping[Key, Iterable[Any]]) -> Catalog:
    """The ``.pot``: every message id with where it comes from (its date changes only when
    the ids do, so a refresh that finds nothing new changes no file)."""
    pot = Catalog(domain=DOMAIN, **HEADER)
    old = LOCALES / f"{DOMAIN}.pot"
    if old.exists():
        with old.open("rb") as file:
            previous = read_po(file)
        if {(m.context, m.id) for m in previous if m.id} == set(messages):
            pot.creation_date = previous.creation_date
    for (context, message), places in sorted(
        messages.items(), key=lambda item: (item[0][0] or "", item[0][1])
    ):
        locations = [p if isinstance(p, tuple) else (p, None) for p in places]
        pot.add(message, context=context, locations=sorted(locations, key=str))
    return pot


def compile_catalogue(catalogue: Catalog, path: Path) -> None:
    """Write the ``.mo`` the bot reads (fuzzy entries are left out, as gettext expects)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    path.write_bytes(buffer.getvalue())


async def all_messages() -> dict[Key, list[Any]]:
    """The code's and the command tree's message ids together."""
    messages: dict[Key, list[Any]] = {k: list(v) for k, v in source_messages().items()}
    for key, commands in (await bot_tree_messages()).items():
        messages.setdefault(key, []).extend(sorted(commands))
    return messages


def refresh(messages: Mapping[Key, Iterable[Any]]) -> dict[str, list[Key]]:
    """Write the ``.pot``, merge it into each ``.po``, compile the ``.mo``; what is untranslated."""
    pot = template(messages)
    LOCALES.mkdir(exist_ok=True)
    with (LOCALES / f"{DOMAIN}.pot").open("wb") as file:
        write_po(file, pot, omit_header=False, width=100)
    gaps = {}
    for language in CATALOGUES:
        catalogue = read_catalogue(language)
        catalogue.update(pot, no_fuzzy_matching=True, update_header_comment=True)
        catalogue.fuzzy = False
        for field, value in HEADER.items():
            setattr(catalogue, field, value)
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            write_po(file, catalogue, ignore_obsolete=True, width=100)
        compile_catalogue(catalogue, path.with_suffix(".mo"))
        gaps[language] = missing(catalogue, messages)
    return gaps


def main(argv: list[str] | None = None) -> int:
    """Refresh the catalogues (or, with ``--check``, only list what lacks a translation)."""
    parser = argparse.ArgumentParser(prog="python -m cogs.catalogues", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on gaps")
    args = parser.parse_args(argv)
    messages = asyncio.run(all_messages())
    if args.check:
        gaps = {language: missing(read_catalogue(language), messages) for language in CATALOGUES}
    else:
        gaps = refresh(messages)
    for language, keys in gaps.items():
        for context, message in keys:
            print(f"{language}: untranslated {f'[{context}] ' if context else ''}{message!r}")
    print(f"{len(messages)} messages; {sum(map(len, gaps.values()))} translations missing")
    return 1 if any(gaps.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
