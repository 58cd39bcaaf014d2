"""The pure parts of /mod: checking options, and how replies look.

No I/O. Options are checked here because Discord's client enforces ranges and choices but
the API does not; replies are built to fit Discord's limits (2000 characters a message,
1024 an embed field, 4096 a description).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands

from bot.errors import NotAllowed
from bot.limits import GUILD_LIMITS
from bot.models import ALLOWED, MAX_TOLERANCE, GuildSettings, NsfwPolicy
from bot.pipeline.facade import OWN_FILTER_TOLERANCE, ProviderInfo
from bot.text import N_, Phrase
from cogs.render import COLOUR

MESSAGE_LIMIT = 2000
FIELD_LIMIT = 1024
PAGE_LIMIT = 3800
TOLERANCE_WORDS = ALLOWED["safety_tolerance"]
TOLERANCE_SCALE = f"0 strictest … {MAX_TOLERANCE} most permissive"
MAX_REASON_CHARS = 300
# Where a member can run /imagine: what the channel options offer.
WORKS_IN = (
    discord.ChannelType.text,
    discord.ChannelType.news,
    discord.ChannelType.voice,
    discord.ChannelType.stage_voice,
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)
Channel = app_commands.AppCommandChannel | app_commands.AppCommandThread

POLICY_MEANING = {
    NsfwPolicy.SPOILER: "flagged images are posted behind a spoiler",
    NsfwPolicy.BLOCK: "flagged images are not posted outside age-restricted channels",
}


@dataclass(frozen=True)
class GuildFacts:
    """Everything /mod show reports, gathered by the cog."""

    settings: GuildSettings
    providers: Sequence[ProviderInfo]
    prices: dict[str, int]
    blocked: int
    banned: int
    max_tolerance: int = MAX_TOLERANCE  # the operator's MAX_SAFETY_TOLERANCE


def shown(value: Any) -> str:
    """A setting's value as a moderator reads it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def change_line(label: str, before: Any, after: Any) -> str:
    """``label: before → after``, or the value marked unchanged."""
    if before == after:
        return f"{label}: {shown(after)} (unchanged)"
    return f"{label}: {shown(before)} → **{shown(after)}**"


def sent_tolerance(provider: ProviderInfo, tolerance: int) -> str:
    """Whether the provider serves ``tolerance`` and what it is sent, or why it is skipped."""
    label, caps = provider.label, provider.capabilities
    refusal = caps.tolerance_refusal(tolerance)
    if refusal is not None:
        return f"skipped: {refusal}"
    sent = caps.tolerance_sent(tolerance)
    if caps.safety_tolerance is None or sent is None:
        return f"serves; takes no tolerance, its own filter counts as {OWN_FILTER_TOLERANCE}"
    text = f"serves, sent {json.dumps(caps.wire_tolerance(sent))}"
    if sent != tolerance:
        low, high = caps.safety_tolerance
        text += f" (stricter than {tolerance}; {label} accepts {low}–{high})"
    return text


def provider_lines(
    providers: Iterable[ProviderInfo],
    tolerance: int,
    ceiling: int,
    *,
    max_tolerance: int = MAX_TOLERANCE,
) -> list[str]:
    """One line per enabled provider, in order: whether it serves this guild (and what it is
    sent) or is skipped and why, everywhere and in age-restricted channels. Both tolerances
    are first capped at the operator's ``max_tolerance``."""
    tolerance, ceiling = min(tolerance, max_tolerance), min(ceiling, max_tolerance)
    lines = []
    for provider in providers:
        line = f"• {provider.label}: {sent_tolerance(provider, tolerance)}"
        if ceiling != tolerance:
            line += f"; age-restricted channels: {sent_tolerance(provider, ceiling)}"
        lines.append(line)
    return lines or ["• no provider is enabled"]


def safety_reply(
    before: GuildSettings,
    after: GuildSettings,
    providers: Iterable[ProviderInfo],
    *,
    raised: bool,
    max_tolerance: int = MAX_TOLERANCE,
) -> str:
    """The /mod safety answer: both tolerances before → after, and which providers serve."""
    lines = [
        f"**Safety tolerance** ({TOLERANCE_SCALE})",
        change_line("Everywhere", before.safety_tolerance, after.safety_tolerance),
        change_line(
            "Age-restricted channels", before.nsfw_channel_tolerance, after.nsfw_channel_tolerance
        ),
    ]
    if raised:
        lines.append(
            f"The age-restricted ceiling was raised to {after.nsfw_channel_tolerance} with it: "
            "it can't be below the tolerance."
        )
    lines.append("**Which providers serve this server, and what each is sent**")
    lines += provider_lines(
        providers,
        after.safety_tolerance,
        after.nsfw_channel_tolerance,
        max_tolerance=max_tolerance,
    )
    lines.append("Takes effect from the next /imagine.")
    return "\n".join(lines)


def channel_list(ids: Sequence[int]) -> str:
    """Channels as mentions (they never ping), or "none"."""
    return ", ".join(f"<#{i}>" for i in ids) if ids else "none"


def where_it_works(settings: GuildSettings) -> str:
    """One sentence: where members can use /imagine."""
    if settings.allowed_channels:
        allowed = [i for i in settings.allowed_channels if i not in settings.denied_channels]
        return (
            f"The bot works only in {channel_list(allowed)}."
            if allowed
            else "The bot works nowhere."
        )
    if settings.denied_channels:
        return f"The bot works everywhere except {channel_list(settings.denied_channels)}."
    return "The bot works in every channel."


def list_change(label: str, before: Sequence[int], after: Sequence[int]) -> str:
    """A channel list's before → after, or marked unchanged."""
    if before == after:
        return f"{label}: {channel_list(after)} (unchanged)"
    return f"{label}: {channel_list(before)} → **{channel_list(after)}**"


def clip(text: str, limit: int = FIELD_LIMIT) -> str:
    """Text cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocklist_pages(phrases: Sequence[str], limit: int = PAGE_LIMIT) -> list[str]:
    """The phrases as bullet lines, split into pages that each fit one embed description."""
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for phrase in phrases:
        line = clip(f"• {discord.utils.escape_markdown(phrase)}", 300)
        if current and size + len(line) + 1 > limit:
            pages.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        pages.append("\n".join(current))
    return pages


def settings_embed(facts: GuildFacts) -> discord.Embed:
    """All of a guild's moderation settings in one embed."""
    s = facts.settings
    embed = discord.Embed(title="Moderation settings", colour=COLOUR)
    embed.add_field(
        name="Safety tolerance",
        value=f"{s.safety_tolerance} everywhere, {s.nsfw_channel_tolerance} in age-restricted "
        f"channels ({TOLERANCE_SCALE})",
        inline=False,
    )
    embed.add_field(
        name="Providers serving this server",
        value=clip(
            "\n".join(
                provider_lines(
                    facts.providers,
                    s.safety_tolerance,
                    s.nsfw_channel_tolerance,
                    max_tolerance=facts.max_tolerance,
                )
            )
        ),
        inline=False,
    )
    embed.add_field(
        name="NSFW policy",
        value=f"{s.nsfw_policy.value}: {POLICY_MEANING[s.nsfw_policy]}; blocked images "
        + ("are refunded" if s.refund_blocked else "are still charged"),
        inline=False,
    )
    embed.add_field(
        name="Limits",
        value="\n".join(
            f"{limit.label}: {shown(getattr(s, limit.name))}" for limit in GUILD_LIMITS
        ),
        inline=False,
    )
    embed.add_field(
        name="Channels",
        value=clip(
            f"{where_it_works(s)}\nAllowed: {channel_list(s.allowed_channels)}\n"
            f"Denied: {channel_list(s.denied_channels)}"
        ),
        inline=False,
    )
    embed.add_field(name="Blocked phrases", value=str(facts.blocked))
    embed.add_field(name="Banned members", value=str(facts.banned))
    role = s.moderator_role_id
    embed.add_field(
        name="Moderator role",
        value=f"<@&{role}>" if role is not None else "none (Manage Server only)",
    )
    embed.add_field(name="Daily allowance", value=f"{s.daily_allowance} credits")
    prices = [
        f"{p.label}: {facts.prices[p.name]}" for p in facts.providers if p.name in facts.prices
    ]
    embed.add_field(name="Price per image", value=clip(", ".join(prices) or "no provider enabled"))
    return embed


# --- checking options --------------------------------------------------------------------


class WorkChannel(app_commands.Transformer):
    """A channel option offering only channels members can run /imagine in."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        """Discord's option type: a channel."""
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        """What the picker offers: text and voice channels and threads."""
        return list(WORKS_IN)

    async def transform(self, interaction: discord.Interaction, value: Any, /) -> Channel:
        """Discord's partial channel as is (threads need not be cached)."""
        return value


def check_range(option: str, value: float, low: float, high: float, words: str) -> None:
    """Refuse a number outside what the setting allows, saying what is allowed."""
    if not low <= value <= high:
        raise NotAllowed(
            Phrase(
                N_("`{option}` must be {allowed}; you gave {given:g}. Nothing was changed."),
                option=option,
                allowed=words,
                given=value,
            )
        )


def check_operator_ceiling(option: str, value: int, max_tolerance: int) -> None:
    """Refuse a tolerance above the operator's MAX_SAFETY_TOLERANCE, saying what is allowed."""
    if value > max_tolerance:
        raise NotAllowed(
            Phrase(
                N_(
                    "`{option}` can be at most {ceiling} on this bot: its operator set that "
                    "ceiling (MAX_SAFETY_TOLERANCE); you gave {given}. Nothing was changed."
                ),
                option=option,
                ceiling=max_tolerance,
                given=value,
            )
        )


def check_channel(channel: Channel) -> None:
    """Refuse a channel nobody can run /imagine in (a category, a forum)."""
    if channel.type not in WORKS_IN:
        raise NotAllowed(
            Phrase(
                N_(
                    "{channel} is a {kind} channel; pick a text or voice channel or a thread. "
                    "Nothing was changed."
                ),
                channel=channel.mention,
                kind=channel.type.name.replace("_", " "),
            )
        )


def with_channel(ids: tuple[int, ...], channel_id: int) -> tuple[int, ...]:
    """The list with the channel added (once)."""
    return ids if channel_id in ids else (*ids, channel_id)


def without_channel(ids: tuple[int, ...], channel_id: int) -> tuple[int, ...]:
    """The list with the channel taken out."""
    return tuple(i for i in ids if i != channel_id)
