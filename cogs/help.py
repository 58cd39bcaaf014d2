"""/help: what the bot does, the member's own balance and limits here, and every command.

Private (ephemeral), like /credits: it shows the member's own figures.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.models import (
    ASPECT_RATIOS,
    MAX_IMAGES,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    REFERENCE_UPLOAD,
    JobStatus,
)
from bot.pipeline.facade import Facade
from cogs.checks import is_moderator
from cogs.render import COLOUR, NO_MENTIONS, refills

ABOUT = (
    "I make images with Black Forest Labs' FLUX 1.1 [pro] Ultra. Type `/imagine` with a "
    "prompt; your request waits its turn in this server's queue and the image is posted "
    "here, with buttons to reroll, vary, flip raw mode or delete it. Every image costs "
    "credits from your balance in this server."
)
COMMANDS = (
    f"`/imagine prompt` makes 1–{MAX_IMAGES} images from a prompt of up to "
    f"{MAX_PROMPT_CHARS} characters\n"
    "`/credits` your balance, allowance and recent movements\n"
    "`/queue` your waiting and running images, with Cancel buttons\n"
    "`/settings` your own defaults for /imagine here\n"
    "`/history` your recent images · `/show job_id` post one again\n"
    "Apps → *Imagine from this image* / *Vary this image* on any message with an image\n"
    "`/help` this page"
)
OPTIONS = (
    f"`aspect` {', '.join(ASPECT_RATIOS)} (default 1:1) · `raw` a less processed look · "
    f"`seed` 0–{MAX_SEED} to repeat an image · `format` JPEG or PNG · `reference` an image "
    f"to resemble ({REFERENCE_UPLOAD}) · `reference_strength` 0–1 · "
    f"`count` 1–{MAX_IMAGES}\n"
    "A bad value is refused privately, saying what is allowed, and nothing is charged."
)
STAFF = (
    "`/mod` safety, NSFW, blocklist, limits, channels, bans, audit log, settings, "
    "channel defaults, private results"
)
ADMINS = "`/admin` usage, export, grants, allowance, prices, moderator role, providers"


class Help(commands.Cog):
    """The /help command."""

    def __init__(self, facade: Facade) -> None:
        self.facade = facade

    @app_commands.command(name="help", description="What this bot does, your limits and balance")
    @app_commands.guild_only()
    async def help(self, interaction: discord.Interaction) -> None:
        """Everything a member needs at a glance, privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild, user = interaction.guild_id or 0, interaction.user.id
        settings = await self.facade.settings(guild)
        balance = await self.facade.balance(guild, user)
        mine = await self.facade.jobs_of(guild, user)
        waiting = sum(1 for job, _ in mine if job.status is JobStatus.QUEUED)
        prices = sorted(set(self.facade.prices(settings).values()))
        price = (
            (f"{prices[0]} credits" if len(prices) == 1 else f"{prices[0]}–{prices[-1]} credits")
            if prices
            else "nothing (no provider is enabled)"
        )

        embed = discord.Embed(title="imagine-bot", description=ABOUT, colour=COLOUR)
        refill = refills(balance.refills_in, none="no daily allowance here")
        embed.add_field(
            name="Your balance here",
            value=f"**{balance.available} credits** ({balance.allowance_left} of today's "
            f"allowance left, {refill}; {balance.held} held for running "
            f"jobs). An image costs {price}.",
            inline=False,
        )
        embed.add_field(
            name="Your limits here",
            value=f"Up to {settings.user_max_running} of your images are made at once and up to "
            f"{settings.user_max_queued} wait in line; you have {len(mine) - waiting} being made "
            f"and {waiting} waiting. The server starts up to {settings.jobs_per_minute:g} images "
            "a minute.",
            inline=False,
        )
        commands_text = COMMANDS
        if is_moderator(interaction, settings):
            commands_text += f"\n{STAFF}"
        if interaction.permissions.administrator:
            commands_text += f"\n{ADMINS}"
        embed.add_field(name="Commands", value=commands_text, inline=False)
        embed.add_field(name="Options of /imagine", value=OPTIONS, inline=False)
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
