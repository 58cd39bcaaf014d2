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
from bot.text import N_
from cogs.checks import is_moderator
from cogs.i18n import Locale, tr
from cogs.render import COLOUR, NO_MENTIONS, refills

ABOUT = N_(
    "I make images with Black Forest Labs' FLUX 1.1 [pro] Ultra. Type `/imagine` with a "
    "prompt; your request waits its turn in this server's queue and the image is posted "
    "here, with buttons to reroll, vary, flip raw mode or delete it. Every image costs "
    "credits from your balance in this server."
)
COMMANDS = N_(
    "`/imagine prompt` makes 1–{max_images} images from a prompt of up to "
    "{max_chars} characters\n"
    "`/credits` your balance, allowance and recent movements\n"
    "`/queue` your waiting and running images, with Cancel buttons\n"
    "`/settings` your own defaults for /imagine here\n"
    "`/history` your recent images · `/show job_id` post one again\n"
    "Apps → *Imagine from this image* / *Vary this image* on any message with an image\n"
    "`/help` this page"
)
OPTIONS = N_(
    "`aspect` {ratios} (default 1:1) · `raw` a less processed look · "
    "`seed` 0–{max_seed} to repeat an image · `format` JPEG or PNG · `reference` an image "
    "to resemble ({reference}) · `reference_strength` 0–1 · "
    "`count` 1–{max_images}\n"
    "A bad value is refused privately, saying what is allowed, and nothing is charged."
)
STAFF = N_(
    "`/mod` safety, NSFW, blocklist, limits, channels, bans, audit log, settings, "
    "channel defaults, private results"
)
ADMINS = N_("`/admin` usage, export, grants, allowance, prices, moderator role, providers")


def options_text(locale: Locale) -> str:
    """The options of /imagine, with their ranges from the models' one home."""
    return tr(
        locale,
        OPTIONS,
        ratios=", ".join(ASPECT_RATIOS),
        max_seed=MAX_SEED,
        reference=REFERENCE_UPLOAD,
        max_images=MAX_IMAGES,
    )


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
        locale = interaction.locale
        if not prices:
            price = tr(locale, "nothing (no provider is enabled)")
        elif len(prices) == 1:
            price = tr(locale, "{credits} credits", credits=prices[0])
        else:
            price = tr(locale, "{low}–{high} credits", low=prices[0], high=prices[-1])

        embed = discord.Embed(title="imagine-bot", description=tr(locale, ABOUT), colour=COLOUR)
        refill = refills(balance.refills_in, none=N_("no daily allowance here"), locale=locale)
        embed.add_field(
            name=tr(locale, "Your balance here"),
            value=tr(
                locale,
                "**{credits} credits** ({allowance} of today's allowance left, {refill}; "
                "{held} held for running jobs). An image costs {price}.",
                credits=balance.available,
                allowance=balance.allowance_left,
                refill=refill,
                held=balance.held,
                price=price,
            ),
            inline=False,
        )
        embed.add_field(
            name=tr(locale, "Your limits here"),
            value=tr(
                locale,
                "Up to {running} of your images are made at once and up to {queued} wait in "
                "line; you have {making} being made and {waiting} waiting. The server starts "
                "up to {per_minute:g} images a minute.",
                running=settings.user_max_running,
                queued=settings.user_max_queued,
                making=len(mine) - waiting,
                waiting=waiting,
                per_minute=settings.jobs_per_minute,
            ),
            inline=False,
        )
        commands_text = tr(locale, COMMANDS, max_images=MAX_IMAGES, max_chars=MAX_PROMPT_CHARS)
        if is_moderator(interaction, settings):
            commands_text += f"\n{tr(locale, STAFF)}"
        if interaction.permissions.administrator:
            commands_text += f"\n{tr(locale, ADMINS)}"
        embed.add_field(name=tr(locale, "Commands"), value=commands_text, inline=False)
        embed.add_field(
            name=tr(locale, "Options of /imagine"), value=options_text(locale), inline=False
        )
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
