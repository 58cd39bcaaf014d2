"""/mod defaults and /mod private: a channel's /imagine defaults (and pinned prompt suffix),
and whether members may generate privately. Mixed into the /mod cog, whose moderator check
covers these commands too.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import NotAllowed
from bot.limits import MAX_SUFFIX_CHARS
from bot.models import ASPECT_RATIOS, MAX_IMAGES, Defaults
from bot.pipeline.facade import Facade
from cogs.render import COLOUR, NO_MENTIONS, literal

FORMATS = [app_commands.Choice(name=n, value=v) for n, v in (("JPEG", "jpeg"), ("PNG", "png"))]


def channel_embed(channel_id: int, saved: Defaults) -> discord.Embed:
    """A channel's defaults and pinned suffix."""
    embed = discord.Embed(title="Channel defaults", colour=COLOUR)
    embed.description = (
        f"In <#{channel_id}>, /imagine fills options a member left out (and has no default "
        "of their own for) with these."
    )
    shown = saved.set_fields()
    for name, label in (
        ("aspect_ratio", "Aspect"),
        ("raw", "Raw"),
        ("output_format", "Format"),
        ("count", "Count"),
    ):
        value = shown.get(name)
        text = "not set" if value is None else {True: "on", False: "off"}.get(value, str(value))
        embed.add_field(name=label, value=text)
    suffix = saved.suffix
    embed.add_field(
        name="Pinned suffix",
        value=f"“{literal(suffix)}” (added to every prompt)" if suffix else "none",
        inline=False,
    )
    return embed


class ChannelDefaultsCommands(commands.Cog):
    """The /mod commands of issue 15; ``facade`` comes from the cog they are mixed into."""

    facade: Facade
    private = app_commands.Group(
        name="private", description="Whether members may generate privately"
    )

    @app_commands.command(name="defaults", description="A channel's /imagine defaults")
    @app_commands.describe(
        channel="The channel (default: this one)",
        aspect="Aspect for this channel (e.g. 9:16 in #wallpapers)",
        raw="Raw on or off",
        format="File format",
        count=f"Images per /imagine, 1 to {MAX_IMAGES}",
        suffix=f"Text added to every prompt here, up to {MAX_SUFFIX_CHARS} characters "
        '("none" removes it)',
        clear="Forget this channel's defaults first",
    )
    @app_commands.choices(
        aspect=[app_commands.Choice(name=r, value=r) for r in ASPECT_RATIOS], format=FORMATS
    )
    async def defaults(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        aspect: str | None = None,
        raw: bool | None = None,
        format: str | None = None,
        count: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
        suffix: str | None = None,
        clear: bool = False,
    ) -> None:
        """Set (or show, with no option) a channel's defaults."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        channel_id = channel.id if channel is not None else interaction.channel_id or 0
        changes: dict[str, Any] = {name: None for name in Defaults.model_fields} if clear else {}
        given = {"aspect_ratio": aspect, "raw": raw, "output_format": format, "count": count}
        changes.update({k: v for k, v in given.items() if v is not None})
        if suffix is not None:
            changes["suffix"] = None if suffix.strip().lower() == "none" else suffix.strip()
        if changes:
            try:
                saved = await self.facade.change_channel_defaults(
                    guild_id, channel_id, interaction.user.id, **changes
                )
            except ValueError as exc:
                raise NotAllowed(f"That is not allowed: {exc} Nothing was changed.") from exc
        else:
            saved = await self.facade.channel_defaults(guild_id, channel_id)
        await interaction.followup.send(
            embed=channel_embed(channel_id, saved), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @private.command(name="allow", description="Members may get results only they see, or by DM")
    async def private_allow(self, interaction: discord.Interaction) -> None:
        """Allow private generation."""
        await self._private(interaction, True)

    @private.command(name="deny", description="Every result is posted in the channel")
    async def private_deny(self, interaction: discord.Interaction) -> None:
        """Deny private generation."""
        await self._private(interaction, False)

    async def _private(self, interaction: discord.Interaction, allowed: bool) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.facade.change_settings(
            interaction.guild_id or 0, interaction.user.id, private_allowed=allowed
        )
        text = (
            "Private results are allowed: members can ask for private:ephemeral or private:dm "
            "(still charged and counted in usage; the NSFW rules still apply)."
            if allowed
            else "Private results are denied: every result is posted in its channel."
        )
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
