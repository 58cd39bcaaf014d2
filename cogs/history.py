"""/history and /show: a member's recent jobs, and a result card posted again.

/history is private: a page of the member's jobs in this server, newest first, with status,
a thumbnail and a link to each result. /show re-posts a job's result, the same images with
their buttons (like Midjourney's /show), for its owner or a moderator; a private result is
not re-posted (Discord keeps no copy of it the bot can read), and a result made in an
age-restricted channel is shown only in one.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import ImagineError, NotAllowed, NotYours, UnknownJob
from bot.jobs import Job
from bot.models import JobStatus
from bot.pipeline.facade import Facade
from cogs import errors
from cogs.checks import is_moderator
from cogs.render import COLOUR, NO_MENTIONS, own_prompt
from cogs.reply import Reply
from cogs.starter import is_age_restricted
from cogs.views import result_view

PER_PAGE = 5
MAX_PAGE = 10_000
_ICONS = {
    JobStatus.DONE: "✅",
    JobStatus.FAILED: "✖",
    JobStatus.CANCELLED: "🚫",
    JobStatus.MODERATED: "🛡️",
}
PRIVATE_GONE = (
    "That result was private: Discord keeps no copy the bot can post again. "
    "/show re-posts results that were posted in a channel."
)
MESSAGE_GONE = "That result's message was deleted, and its images with it."
ADULT_ONLY = "That result was made in an age-restricted channel; /show it in one."
NOT_DONE = "That job has no result to show (it is {status})."


def result_link(job: Job) -> str | None:
    """Where the result can be seen: its message in the channel (None for a private one)."""
    reply = Reply.of_job(job)
    message = reply.result_message_id or reply.status_message_id
    if job.status is not JobStatus.DONE or reply.private or not message:
        return None
    return f"https://discord.com/channels/{job.guild_id}/{reply.channel_id}/{message}"


def history_embeds(jobs: list[Job], total: int, page: int) -> list[discord.Embed]:
    """One small card per job, the page's position in the footer of the last."""
    embeds = []
    for job in jobs:
        reply = Reply.of_job(job)
        icon = _ICONS.get(job.status, "🕒")
        embed = discord.Embed(
            title=f"{icon} Job {job.id}: {job.status.value}",
            description=own_prompt(job.request.prompt, 300),
            colour=COLOUR,
            url=result_link(job),
            timestamp=datetime.fromtimestamp(job.created_at, UTC),
        )
        if reply.private:
            embed.add_field(
                name="Private", value="direct message" if reply.private == "dm" else "only you"
            )
        if reply.result_url:
            embed.set_thumbnail(url=reply.result_url)
        embeds.append(embed)
    pages = max(1, math.ceil(total / PER_PAGE))
    if embeds:
        more = ": /history page:<n>" if pages > 1 else ""
        embeds[-1].set_footer(text=f"Page {page} of {pages}{more} · /show job_id posts one again")
    return embeds


class History(commands.Cog):
    """/history and /show."""

    def __init__(self, facade: Facade) -> None:
        self.facade = facade

    @app_commands.command(name="history", description="Your recent images in this server")
    @app_commands.guild_only()
    @app_commands.describe(page="Page, from 1 (newest first)")
    async def history(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, MAX_PAGE] = 1
    ) -> None:
        """A page of the member's jobs, privately."""
        if not 1 <= page <= MAX_PAGE:
            raise NotAllowed(f"`page` must be a whole number from 1 to {MAX_PAGE}.")
        jobs, total = await self.facade.job_page(
            interaction.guild_id or 0, interaction.user.id, page=page, per_page=PER_PAGE
        )
        if not jobs:
            pages = max(1, math.ceil(total / PER_PAGE))
            text = (
                "You have made no images in this server yet: try /imagine."
                if total == 0
                else f"There are only {pages} pages: /history page:{pages}."
            )
            await interaction.response.send_message(text, ephemeral=True)
            return
        await interaction.response.send_message(
            embeds=history_embeds(jobs, total, page), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(
        name="show", description="Post one of your results again, with its buttons"
    )
    @app_commands.guild_only()
    @app_commands.describe(job_id="The job's number (see /history)")
    async def show(
        self, interaction: discord.Interaction, job_id: app_commands.Range[int, 1, 2**53 - 1]
    ) -> None:
        """Re-post a job's result card: the owner's, or any for a moderator."""
        try:
            job = await self._showable(interaction, job_id)
            await interaction.response.defer(thinking=True)
            reply = Reply.of_job(job)
            message_id = reply.result_message_id or reply.status_message_id
            channel = self.bot_channel(interaction, reply.channel_id)
            try:
                original = await channel.fetch_message(message_id or 0)
                files = [await a.to_file(spoiler=a.is_spoiler()) for a in original.attachments]
            except discord.NotFound:
                raise NotAllowed(MESSAGE_GONE) from None
            if not files:
                raise NotAllowed(MESSAGE_GONE)
            await interaction.edit_original_response(
                content=None,
                embeds=original.embeds[:1],
                attachments=files,
                view=result_view(job, len(files)),
                allowed_mentions=NO_MENTIONS,
            )
        except ImagineError as exc:
            await errors.tell(interaction, exc, "/show")

    @staticmethod
    def bot_channel(
        interaction: discord.Interaction, channel_id: int
    ) -> discord.PartialMessageable:
        """The job's channel, to read its result message with the bot token."""
        return interaction.client.get_partial_messageable(channel_id, guild_id=interaction.guild_id)

    async def _showable(self, interaction: discord.Interaction, job_id: int) -> Job:
        job = await self.facade.job(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            raise UnknownJob()
        if job.user_id != interaction.user.id:
            settings = await self.facade.settings(job.guild_id)
            if not is_moderator(interaction, settings):
                raise NotYours("show it again")
        if Reply.of_job(job).private:
            raise NotAllowed(PRIVATE_GONE)
        if job.status is not JobStatus.DONE:
            raise NotAllowed(NOT_DONE.format(status=job.status.value))
        if job.age_restricted and not is_age_restricted(interaction.channel):
            raise NotAllowed(ADULT_ONLY)
        return job
