"""/mod: commands for the server's moderators (being built; see the issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from cogs.client import ImagineBot


class Moderation(commands.Cog):
    """The /mod group."""

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot


async def setup(bot: ImagineBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(Moderation(bot))
