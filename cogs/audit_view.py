"""How /mod audit shows the audit log: who changed what, before and after, a page at a time.

No I/O. Each change is one line that fits with nine others in one embed description.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import discord

from bot.limits import GUILD_LIMITS
from bot.pipeline.facade import AuditEntry
from cogs.render import COLOUR

PER_PAGE = 10
LINE_LIMIT = 360  # ten lines stay well inside an embed description (4096)

SETTING_LABELS: dict[str, str] = {
    "safety_tolerance": "safety tolerance",
    "nsfw_channel_tolerance": "age-restricted tolerance",
    "nsfw_policy": "NSFW policy",
    "refund_blocked": "refund blocked images",
    "daily_allowance": "daily allowance",
    "prices": "prices",
    "allowed_channels": "allowed channels",
    "denied_channels": "denied channels",
    "moderator_role_id": "moderator role",
    "private_allowed": "private results allowed",
    **{limit.name: limit.label.lower() for limit in GUILD_LIMITS},
}


def _value(key: str, value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "none"
    if key.endswith("_channels"):
        return ", ".join(f"<#{i}>" for i in value)
    if key == "moderator_role_id":
        return f"<@&{value}>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return discord.utils.escape_markdown(str(value))


def _user(data: Any) -> str:
    return f"<@{data['user']}>" if isinstance(data, dict) and "user" in data else "someone"


def what_changed(entry: AuditEntry) -> str:
    """The change in words, with before → after."""
    before, after = entry.before, entry.after
    escaped = discord.utils.escape_markdown
    if entry.action == "settings" and isinstance(after, dict):
        old = before if isinstance(before, dict) else {}
        parts = [
            f"{SETTING_LABELS.get(key, key)} {_value(key, old.get(key))} → **{_value(key, value)}**"
            for key, value in sorted(after.items())
        ]
        return "; ".join(parts) or "settings (no change)"
    if entry.action.startswith("defaults:") and isinstance(after, dict):
        old = before if isinstance(before, dict) else {}
        parts = [
            f"{key} {escaped(_value(key, old.get(key)))} → **{escaped(_value(key, value))}**"
            for key, value in sorted(after.items())
        ]
        channel = entry.action.partition(":")[2]
        return f"defaults of <#{channel}>: " + ("; ".join(parts) or "no change")
    if entry.action == "block":
        return f"blocked “{escaped(str(after))}”"
    if entry.action == "unblock":
        return f"unblocked “{escaped(str(before))}”"
    if entry.action == "ban":
        was = f" (was banned: {escaped(before['reason'])})" if isinstance(before, dict) else ""
        reason = after.get("reason", "") if isinstance(after, dict) else ""
        return f"banned {_user(after)}: {escaped(str(reason))}{was}"
    if entry.action == "unban":
        reason = before.get("reason", "") if isinstance(before, dict) else ""
        return f"unbanned {_user(before)} (was banned: {escaped(reason)})"
    if entry.action == "grant" and isinstance(after, dict):
        applied, asked = after.get("applied", 0), after.get("asked", 0)
        asked_note = f" (asked {asked:+d})" if asked != applied else ""
        return f"granted {_user(after)} {applied:+d} credits{asked_note}"
    return f"{entry.action}: {_value('', before)} → **{_value('', after)}**"


def entry_line(entry: AuditEntry) -> str:
    """``<time> <who>: <what>``, clipped to fit."""
    line = f"<t:{int(entry.at)}:f> <@{entry.actor_id}>: {what_changed(entry)}"
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1] + "…"


def audit_embed(
    entries: Sequence[AuditEntry], total: int, *, page: int, member: int | None
) -> discord.Embed:
    """One page of the log; the footer says how to reach the others."""
    pages = max(1, math.ceil(total / PER_PAGE))
    about = f" by or to <@{member}>" if member is not None else ""
    if not entries:
        text = (
            f"No changes{about} are recorded."
            if total == 0
            else f"There are only {pages} pages; ask for page 1 to {pages}."
        )
        return discord.Embed(title="Audit log", description=text, colour=COLOUR)
    embed = discord.Embed(
        title=f"Audit log ({total} change{'s' if total != 1 else ''})",
        description=(f"Changes{about}, newest first:\n" if about else "")
        + "\n".join(entry_line(e) for e in entries),
        colour=COLOUR,
    )
    embed.set_footer(
        text=f"Page {page} of {pages}" + (": /mod audit page:<n>" if pages > 1 else "")
    )
    return embed
