"""A member's own view: /credits (balance, allowance, recent spend) and /queue (own jobs)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.models import JobStatus
from bot.pipeline.facade import Facade
from cogs.i18n import tr
from cogs.render import COLOUR, NO_MENTIONS, ledger_kind, preview, refills
from cogs.reply import UNTOLD, Reply
from cogs.views import queue_view


class Account(commands.Cog):
    """What a member can see about themselves."""

    def __init__(self, facade: Facade) -> None:
        self.facade = facade

    @app_commands.command(name="credits", description="Your credits in this server")
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction) -> None:
        """Balance, today's allowance, grants, held credits and recent movements."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild, user = interaction.guild_id or 0, interaction.user.id
        balance = await self.facade.balance(guild, user)
        history = await self.facade.history(guild, user, limit=5)
        locale = interaction.locale
        embed = discord.Embed(
            title=tr(locale, "{credits} credits available", credits=balance.available),
            colour=COLOUR,
        )
        embed.add_field(
            name=tr(locale, "Daily allowance left"),
            value=f"{balance.allowance_left} ({refills(balance.refills_in, locale=locale)})",
            inline=False,
        )
        embed.add_field(name=tr(locale, "Granted by admins"), value=str(balance.granted))
        embed.add_field(name=tr(locale, "Held for running jobs"), value=str(balance.held))
        embed.add_field(name=tr(locale, "Spent today"), value=str(balance.spent_today))
        if history:
            lines = [
                f"<t:{int(e.at)}:R> {ledger_kind(e.kind, locale)}: {e.amount:+d}"
                + (f" ({tr(locale, 'charged {credits}', credits=e.charged)})" if e.charged else "")
                for e in history
            ]
            embed.add_field(name=tr(locale, "Recent"), value="\n".join(lines), inline=False)
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="queue", description="Your waiting and running images")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        """Each of your unfinished jobs with its position and a Cancel button, after any
        endings the bot could not tell you in time (once each)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild, user = interaction.guild_id or 0, interaction.user.id
        found = await self.facade.jobs_of(guild, user)
        missed = await self.facade.ended_with_note(guild, user, UNTOLD, limit=5)
        locale = interaction.locale
        lines = []
        if missed:
            lines.append(f"**{tr(locale, 'While you were away')}**")
            lines += [str(Reply.of_job(job).untold) for job in reversed(missed)]
            for job in missed:
                await self.facade.set_context(job.id, Reply.of_job(job).but(untold=None).stored())
        if not found:
            lines.append(tr(locale, "You have no images waiting or being made."))
            await interaction.followup.send(
                "\n".join(lines)[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if missed:
            lines.append(f"**{tr(locale, 'Now')}**")
        cancellable = []
        for number, (job, estimate) in enumerate(found, start=1):
            cancellable.append((number, job))
            if job.status is JobStatus.QUEUED:
                where = (
                    tr(
                        locale,
                        "waiting, {ahead} ahead, starts in about {seconds} s",
                        ahead=estimate.position,
                        seconds=max(1, round(estimate.starts_in)),
                    )
                    if estimate
                    else tr(locale, "waiting")
                )
            else:
                where = tr(locale, "being made")
            lines.append(f"**#{number}** {where}\n{preview(job.request.prompt, public=False)}")
        await interaction.followup.send(
            "\n".join(lines)[:2000],
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
            view=queue_view(cancellable, locale) or discord.utils.MISSING,
        )
