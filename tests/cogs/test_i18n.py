"""Members read the bot in their language: catalogues complete, commands localized at sync,
replies in the member's locale."""

from __future__ import annotations

import importlib
import io
import pkgutil
import string

import pytest
from babel.messages.mofile import write_mo

import bot
from bot.errors import ImagineError, InsufficientCredits
from cogs.catalogues import all_messages, missing, po_path, read_catalogue
from cogs.errors import user_message
from cogs.i18n import CATALOGUES, LANGUAGES, tr
from tests.cogs.conftest import ALICE, MOD, RigFactory
from tests.fakes.discord import FakeMessage

REFRESH = "run `python -m cogs.catalogues`, translate the new entries, run it again"


async def test_every_sentence_and_command_string_has_a_translation_in_every_catalogue() -> None:
    messages = await all_messages()
    assert len(messages) > 200, "the extraction found the bot's sentences and commands"
    gaps = []
    for language in CATALOGUES:
        for context, message in missing(read_catalogue(language), messages):
            where = ", ".join(str(p) for p in messages[(context, message)][:3])
            scope = f"[{context}] " if context else ""
            gaps.append(f"{language}: {scope}{message!r} (from {where})")
    assert not gaps, f"untranslated ({REFRESH}):\n" + "\n".join(gaps)


def _fields(text: str) -> list[tuple[str, str]]:
    return sorted(
        (name, spec or "")
        for _, name, spec, _ in string.Formatter().parse(text)
        if name is not None
    )


@pytest.mark.parametrize("language", CATALOGUES)
def test_translations_keep_every_placeholder(language: str) -> None:
    broken = [
        f"{entry.id!r} → {entry.string!r}"
        for entry in read_catalogue(language)
        if entry.id and entry.string and _fields(str(entry.id)) != _fields(str(entry.string))
    ]
    assert not broken, f"{language}: the {{fields}} differ from the English:\n" + "\n".join(broken)


@pytest.mark.parametrize("language", CATALOGUES)
def test_the_shipped_mo_is_compiled_from_the_po(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue(language), use_fuzzy=False)
    shipped = po_path(language).with_suffix(".mo").read_bytes()
    assert shipped == compiled.getvalue(), f"{language}: {REFRESH}"


def test_every_error_says_its_sentence_as_a_phrase() -> None:
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        if module.name != "bot.__main__":
            importlib.import_module(module.name)
    pending, seen = [ImagineError], set()
    while pending:
        cls = pending.pop()
        seen.add(cls)
        pending.extend(c for c in cls.__subclasses__() if c not in seen)
    wrong = sorted(
        f"{c.__module__}.{c.__qualname__}"
        for c in seen
        if c is not ImagineError and "user_message" in c.__dict__
    )
    assert not wrong, f"override user_phrase (a translatable Phrase) instead: {wrong}"


def test_a_locale_reads_its_catalogue_and_others_read_english() -> None:
    error = InsufficientCredits(needed=6, available=0, refills_in=None)
    assert user_message(error, "de") == "Das kostet 6 Credits, und du hast 0."
    assert user_message(error, "es-419") == "Esto necesita 6 créditos y tienes 0."
    assert user_message(error, "ja") == "This needs 6 credits and you have 0."
    assert user_message(error) == error.user_message
    assert tr("pt-BR", "Cancelled.") == "Cancelado."
    assert set(LANGUAGES) == {"de", "fr", "es-ES", "es-419", "pt-BR"}


async def test_sync_sends_the_localizations_and_discord_accepts_them(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    synced = {c["name"]: c for c in rig.fake.commands[rig.guild.id]}
    imagine = synced["imagine"]
    assert imagine["name_localizations"]["de"] == "bild"
    assert imagine["description_localizations"]["fr"] == "Créer une image avec FLUX 1.1 [pro] Ultra"
    prompt = next(o for o in imagine["options"] if o["name"] == "prompt")
    assert prompt["name_localizations"]["pt-BR"] == "descrição"
    assert prompt["description_localizations"]["es-ES"] == "Qué dibujar"
    for command in synced.values():
        # A name that reads the same ("mod", "admin") is left to Discord's fallback.
        assert set(command["name_localizations"]) <= set(LANGUAGES), command["name"]
        if command.get("type", 1) == 1:  # context-menu commands have no description
            assert set(command["description_localizations"]) == set(LANGUAGES), command["name"]
    menus = [c for c in synced.values() if c.get("type") == 3]
    assert menus and all(set(c["name_localizations"]) == set(LANGUAGES) for c in menus)
    assert not rig.fake.violations, "the fake validated every sync body against the OpenAPI"


def _fields_of(message: FakeMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed["fields"]}


async def test_a_german_member_is_answered_in_german(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", daily_allowance=0)
    refused = await rig.fake.slash(
        "imagine",
        guild=rig.guild,
        channel=rig.channel,
        user_id=ALICE,
        options={"prompt": "ein Leuchtturm"},
        locale="de",
    )
    await refused.acknowledged()
    reply = await rig.fake.wait_for(lambda m: m.ephemeral and "Credits" in m.content)
    assert reply.content == "Das kostet 6 Credits, und du hast 0."

    invalid = await rig.fake.slash(
        "imagine",
        guild=rig.guild,
        channel=rig.channel,
        user_id=ALICE,
        options={"prompt": "x", "count": 9},
        locale="de",
    )
    await invalid.acknowledged()
    assert invalid.original is not None
    assert invalid.original.content.startswith("`count` ist ungültig:")
    assert "Erlaubt:" in invalid.original.content


async def test_a_result_and_its_buttons_are_in_the_members_language(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    interaction = await rig.fake.slash(
        "imagine",
        guild=rig.guild,
        channel=rig.channel,
        user_id=ALICE,
        options={"prompt": "un phare au crépuscule"},
        locale="fr",
    )
    await interaction.acknowledged()
    message = await rig.outcome(interaction)
    shown = _fields_of(message)
    assert shown["Fournisseur"] == "fal.ai"
    assert shown["Crédits"] == "6"
    labels = [b.get("label") for row in message.components for b in row.get("components", [])]
    assert "🔁 Relancer" in labels
    assert "🗑️ Supprimer" in labels


async def test_a_spanish_moderator_is_answered_in_spanish(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    listing = await rig.fake.slash(
        "mod",
        guild=rig.guild,
        channel=rig.channel,
        user_id=MOD,
        group="blocklist",
        subcommand="list",
        locale="es-ES",
    )
    await listing.acknowledged()
    reply = await rig.fake.wait_for(lambda m: m.ephemeral and "bloque" in m.content)
    assert reply.content == "No hay frases bloqueadas en este servidor."
    refused = await rig.fake.slash(
        "mod",
        guild=rig.guild,
        channel=rig.channel,
        user_id=ALICE,
        subcommand="show",
        locale="es-419",
    )
    await refused.acknowledged()
    told = await rig.fake.wait_for(lambda m: m.ephemeral and "/mod" in m.content)
    assert told.content.startswith("Solo los moderadores de este servidor pueden usar /mod")
