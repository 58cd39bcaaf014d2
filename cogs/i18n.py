"""Members read the bot in their own Discord language: the catalogues and the one way to use them.

Catalogues are gettext files made with Babel, one per language, in ``cogs/locales/<lang>/
LC_MESSAGES/messages.po`` (compiled next to it as ``messages.mo``, which ships in the package).
A sentence is written once, in English, as the message id:

- replies: ``tr(interaction.locale, "Queued: {ahead} ahead of you.", ahead=n)``, or a
  ``Phrase`` (``bot.text``) from the core shown with ``say(locale, phrase)``; a constant
  kept in a module is marked ``N_("...")``;
- commands: their names, descriptions and ``locale_str`` choices go to Discord at sync
  through ``CommandTranslator`` (names in the ``command name`` context, choices in
  ``choice``).

A language without a catalogue, or a sentence without a translation, reads in English.
``python -m cogs.catalogues`` refreshes the catalogues (see README, "Languages").
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

import discord
from discord import app_commands

from bot.text import N_, Phrase

LOCALES = Path(__file__).with_name("locales")
DOMAIN = "messages"
# Discord's locale → its catalogue. Latin-American Spanish reads the Spanish catalogue, which
# is written in a neutral register (usted/ustedes, no vosotros) to serve both.
LANGUAGES: dict[str, str] = {
    "de": "de",
    "fr": "fr",
    "es-ES": "es_ES",
    "es-419": "es_ES",
    "pt-BR": "pt_BR",
}
CATALOGUES = tuple(sorted(set(LANGUAGES.values())))
NAME_CONTEXT = "command name"
CHOICE_CONTEXT = "choice"
_NAMES = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)

__all__ = ["N_", "CommandTranslator", "Phrase", "catalogue", "say", "tr"]

Locale = discord.Locale | str | None
Key = tuple[str | None, str]  # (context, English message id)


@cache
def catalogue(name: str) -> gettext.NullTranslations:
    """The compiled catalogue ``name`` (``de``, ``pt_BR``...), read once."""
    path = LOCALES / name / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as file:
        return gettext.GNUTranslations(file)


def translations(locale: Locale) -> gettext.NullTranslations:
    """The catalogue for a Discord locale; English (no translation) when there is none."""
    name = LANGUAGES.get(str(locale)) if locale is not None else None
    return catalogue(name) if name else gettext.NullTranslations()


def tr(locale: Locale, template: str, /, **values: object) -> str:
    """``template`` in the language of ``locale``, its ``{fields}`` filled with ``values``
    (a Phrase value is translated too). Without values the text is used as written."""
    return say(locale, Phrase(template, **values))


def say(locale: Locale, phrase: Phrase | str) -> str:
    """A Phrase (or a sentence stored in English, if the catalogue knows it) in ``locale``."""
    if not isinstance(phrase, Phrase):
        phrase = Phrase(phrase)
    return phrase.render(translations(locale).gettext)


def command_key(message: str, context: app_commands.TranslationContextTypes) -> Key | None:
    """The catalogue key (context, English) of a command string; None for a choice named as
    its value (an aspect ratio, a provider, a keyword), which reads the same in any language."""
    location = context.location
    if location in _NAMES:
        return (NAME_CONTEXT, message)
    if location is app_commands.TranslationContextLocation.choice_name:
        if message == getattr(context.data, "value", None):
            return None
        return (CHOICE_CONTEXT, message)
    return (None, message)


def command_text(
    message: str, locale: Locale, context: app_commands.TranslationContextTypes
) -> str | None:
    """A command's name, description or choice in ``locale``; None when not translated."""
    key = command_key(message, context)
    if key is None:
        return None
    found = translations(locale)
    scope, english = key
    text = found.pgettext(scope, english) if scope else found.gettext(english)
    return text if text != english else None


class CommandTranslator(app_commands.Translator):
    """discord.py's translator over the catalogues: command sync sends every translation as
    ``name_localizations`` and ``description_localizations``."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The catalogue's translation of a command string, or None to keep the English."""
        return command_text(string.message, locale, context)
