"""Application commands: what a sync stores, and the ``data`` of a slash command invocation."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .render import attachment_json, channel_json, member_json, role_json, user_json

if TYPE_CHECKING:
    from .models import FakeChannel, FakeGuild
    from .server import FakeDiscord

STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 10, 11
SUBCOMMAND, GROUP = 1, 2
FileSpec = tuple[str, bytes, str]  # (filename, data, content type)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def command_json(
    fake: FakeDiscord, sent: dict[str, Any], guild_id: int | None, command_id: str | None
) -> dict[str, Any]:
    """A registered command as Discord answers a sync (``ApplicationCommandResponse``)."""
    perms = sent.get("default_member_permissions")
    data: dict[str, Any] = {
        "id": command_id or str(fake.new_id()),
        "application_id": str(fake.application_id),
        "version": str(fake.new_id()),
        "type": sent.get("type") or 1,
        "name": sent["name"],
        "name_localizations": sent.get("name_localizations"),
        "description": sent.get("description") or "",
        "description_localizations": sent.get("description_localizations"),
        "options": _strip(sent.get("options") or []),
        "default_member_permissions": None if perms is None else str(perms),
        "dm_permission": sent.get("dm_permission", True) is not False,
        "contexts": sent.get("contexts"),
        "integration_types": sent.get("integration_types") or [0],
        "nsfw": bool(sent.get("nsfw")),
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return data


def find_command(fake: FakeDiscord, guild: FakeGuild, name: str) -> tuple[dict | None, int | None]:
    """The registered chat command ``name``: the guild's own first, then the global one."""
    for scope in (guild.id, None):
        for command in fake.commands.get(scope, []):
            if command["name"] == name and command.get("type", 1) == 1:
                return command, scope
    return None, None


def _named(options: list[dict[str, Any]], name: str, kind: int, where: str) -> dict[str, Any]:
    for option in options:
        if option["name"] == name and option["type"] == kind:
            return option
    raise ValueError(f"{where} has no {'group' if kind == GROUP else 'subcommand'} {name!r}")


def _infer(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, tuple | bytes):
        return ATTACHMENT
    return STRING


def slash_data(
    fake: FakeDiscord,
    guild: FakeGuild,
    channel: FakeChannel,
    name: str,
    options: Mapping[str, Any] | Sequence[dict[str, Any]],
    attachments: Sequence[FileSpec],
    subcommand: str | None,
    group: str | None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """``data`` of an INTERACTION_CREATE for ``/name [group] [subcommand] options...``.

    Option types come from the synced definition; without one they are guessed from the
    Python values (bool, int, float, str; a (filename, bytes, content type) tuple is a file).
    Attachment options take such a tuple or the filename of one of ``attachments``; files in
    ``attachments`` that no option names fill the unset attachment options in order.
    Ranges and choices are not checked: Discord's client does that, the bot must re-check.
    """
    command, scope = find_command(fake, guild, name)
    where = f"/{name}"
    definitions: list[dict[str, Any]] | None = None
    if command is not None:
        definitions = command.get("options") or []
        if group:
            definitions = _named(definitions, group, GROUP, where).get("options") or []
            where += f" {group}"
        if subcommand:
            definitions = _named(definitions, subcommand, SUBCOMMAND, where).get("options") or []
            where += f" {subcommand}"
    files = {filename: (filename, data, ctype) for filename, data, ctype in attachments}
    resolved: dict[str, Any] = {}

    def upload(value: Any) -> str:
        filename, data, ctype = files.pop(value) if isinstance(value, str) else value
        stored = fake.store_attachment(channel.id, filename, data, ctype, ephemeral=True)
        resolved.setdefault("attachments", {})[str(stored.id)] = attachment_json(stored)
        return str(stored.id)

    def mention(kind: int, value: Any) -> str:
        """A user, channel or role option: its id, with the object in ``resolved``."""
        target = int(getattr(value, "id", getattr(value, "user_id", value)))
        key = str(target)
        if kind == USER:
            member = guild.members.get(target)
            name = member.name if member else f"user{target}"
            resolved.setdefault("users", {})[key] = user_json(target, name)
            if member is not None:
                entry = member_json(guild, member, fake.started_at, permissions=True)
                entry.pop("user")
                resolved.setdefault("members", {})[key] = entry
        elif kind == CHANNEL:
            # Discord resolves a channel with the invoking member's permissions in it.
            granted = guild.permissions_of(user_id) if user_id is not None else None
            resolved.setdefault("channels", {})[key] = channel_json(
                guild.channels[target], permissions=granted
            )
        elif kind == ROLE:
            resolved.setdefault("roles", {})[key] = role_json(guild.roles[target])
        return key

    if isinstance(options, Mapping):
        leaf = []
        values = dict(options)
        for definition in definitions or []:
            missing = definition["name"] not in values
            if missing and definition["type"] == ATTACHMENT and files:
                values[definition["name"]] = next(iter(files))
        for key, value in values.items():
            kind = _infer(value)
            if definitions is not None:
                found = [d for d in definitions if d["name"] == key]
                if not found:
                    known = [d["name"] for d in definitions]
                    raise ValueError(f"{where} has no option {key!r} (it has {known})")
                kind = found[0]["type"]
            if kind in (USER, CHANNEL, ROLE):
                leaf.append({"name": key, "type": kind, "value": mention(kind, value)})
            else:
                leaf.append({"name": key, "type": kind, "value": _convert(kind, value, upload)})
        for definition in definitions or []:
            if definition.get("required") and definition["name"] not in values:
                raise ValueError(f"{where} needs option {definition['name']!r}")
    else:
        leaf = [dict(option) for option in options]
    if subcommand:
        leaf = [{"name": subcommand, "type": SUBCOMMAND, "options": leaf}]
    if group:
        leaf = [{"name": group, "type": GROUP, "options": leaf}]
    data: dict[str, Any] = {
        "id": command["id"] if command else str(fake.new_id()),
        "name": name,
        "type": 1,
        "options": leaf,
    }
    if scope is not None:
        data["guild_id"] = str(scope)
    if resolved:
        data["resolved"] = resolved
    return data


def _convert(kind: int, value: Any, upload: Any) -> Any:
    if kind == STRING:
        return str(value)
    if kind == INTEGER:
        return int(value)
    if kind == NUMBER:
        return float(value)
    if kind == BOOLEAN:
        return bool(value)
    if kind == ATTACHMENT:
        return upload(value)
    raise ValueError(f"option type {kind} is not simulated by the fake (use a raw options list)")


def _name_ok(name: str) -> bool:
    """Discord's rule for a chat command or option name: ``^[-_\\p{L}\\p{N}\\p{sc=Deva}
    \\p{sc=Thai}]{1,32}$``, and lowercase where the letter has a lowercase form."""
    return (
        1 <= len(name) <= 32
        and name == name.lower()
        and all(
            c in "-_" or unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "Mn"
            for c in name
        )
    )


def localization_errors(commands: list[dict[str, Any]], locales: set[str]) -> list[str]:
    """What Discord refuses in a sync's localizations, beyond the OpenAPI description: a
    locale it does not know, a localized name that breaks the naming rule, and two options
    of one command that share a name in some language."""
    problems: list[str] = []

    def check(node: dict[str, Any], where: str, *, chat: bool) -> None:
        for key in ("name_localizations", "description_localizations"):
            for locale, text in (node.get(key) or {}).items():
                if locale not in locales:
                    problems.append(f"{where}.{key}: unknown locale {locale!r}")
                elif key == "name_localizations" and chat and not _name_ok(text):
                    problems.append(f"{where}.{key}.{locale}: invalid name {text!r}")
        options = node.get("options") or []
        names: dict[str, set[str]] = {}
        for index, option in enumerate(options):
            child = f"{where}.options.{index}"
            for locale, text in (option.get("name_localizations") or {}).items():
                if text in names.setdefault(locale, set()):
                    problems.append(f"{child}.name_localizations.{locale}: duplicate {text!r}")
                names[locale].add(text)
            for c_index, choice in enumerate(option.get("choices") or []):
                for locale in choice.get("name_localizations") or {}:
                    if locale not in locales:
                        problems.append(f"{child}.choices.{c_index}: unknown locale {locale!r}")
            check(option, child, chat=chat)

    for position, command in enumerate(commands):
        check(command, str(position), chat=(command.get("type") or 1) == 1)
    return problems
