"""/imagine and the buttons under its results: what a member can do to make images.

Options are checked in the bot (Discord's client checks ranges, the API does not),
then the interaction is deferred before any I/O, the job is handed to the pipeline,
and the deferred "thinking" message becomes the job's status message.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import ImagineError, InvalidRequest, NotAllowed, NotYours, UnknownJob
from bot.jobs import Job
from bot.models import (
    MAX_IMAGES,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    GenerationRequest,
    Privacy,
    ReferenceImage,
)
from bot.pipeline.facade import Facade
from cogs import errors
from cogs.checks import is_moderator
from cogs.i18n import tr
from cogs.render import CANCEL_CONFIRMED
from cogs.reply import Reply
from cogs.starter import Starter
from cogs.views import CLICKED, OWNER_ONLY, REMIX

log = logging.getLogger(__name__)

FORMATS = [
    app_commands.Choice(name="JPEG", value="jpeg"),
    app_commands.Choice(name="PNG", value="png"),
]
PRIVACY = [
    app_commands.Choice(name="off (posted in the channel)", value="off"),
    app_commands.Choice(name="only me (ephemeral)", value="ephemeral"),
    app_commands.Choice(name="direct message", value="dm"),
]


def reference_from(attachment: discord.Attachment | None) -> ReferenceImage | None:
    """The attachment as a reference image, or InvalidRequest saying what is allowed."""
    if attachment is None:
        return None
    return ReferenceImage.upload(
        attachment.url,
        content_type=attachment.content_type,
        size=attachment.size,
        name=attachment.filename,
    )


class Imagine(commands.Cog):
    """Making images: /imagine, Reroll, Raw, Vary, Delete, Cancel.

    ``bot`` is the client whose command tree gets /imagine; ``starter`` admits the jobs.
    Options left out follow the member's /settings, then the channel's /mod defaults.
    """

    def __init__(self, bot: commands.Bot, facade: Facade, starter: Starter) -> None:
        self.bot = bot
        self.facade = facade
        self.starter = starter

    async def cog_load(self) -> None:
        """Register /imagine with the aspect ratios the enabled providers offer."""
        self.bot.tree.add_command(self._command(self.facade.aspect_ratios()))

    async def cog_unload(self) -> None:
        """Take /imagine back out of the tree."""
        self.bot.tree.remove_command("imagine")

    def _command(self, ratios: list[str]) -> app_commands.Command[Any, Any, None]:
        cog = self
        default_ratio = "1:1" if "1:1" in ratios else ratios[0]

        @app_commands.command(name="imagine", description="Make an image with FLUX 1.1 [pro] Ultra")
        @app_commands.guild_only()
        @app_commands.describe(
            prompt="What to draw",
            aspect=f"Shape of the image (default: yours, the channel's, or {default_ratio})",
            raw="Raw mode: a less processed, more natural look",
            seed="Seed for a repeatable image",
            format="File format (default JPEG)",
            reference="An image the result should resemble",
            reference_strength="How strongly the reference steers the result, 0 to 1 (default 0.1)",
            count=f"How many images, 1 to {MAX_IMAGES}",
            private="Where the result goes (if this server allows private results)",
        )
        @app_commands.choices(
            aspect=[app_commands.Choice(name=r, value=r) for r in ratios],
            format=FORMATS,
            private=PRIVACY,
        )
        async def imagine(
            interaction: discord.Interaction,
            prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
            aspect: str | None = None,
            raw: bool | None = None,
            seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
            format: str | None = None,
            reference: discord.Attachment | None = None,
            reference_strength: app_commands.Range[float, 0.0, 1.0] = 0.1,
            count: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
            private: str | None = None,
        ) -> None:
            try:
                explicit = {
                    "prompt": prompt,
                    "aspect_ratio": aspect,
                    "raw": raw,
                    "seed": seed,
                    "output_format": format,
                    "reference": reference_from(reference),
                    "reference_strength": reference_strength,
                    "count": count,
                    "private": private,
                }
            except InvalidRequest as exc:
                await errors.tell(interaction, exc, "/imagine")
                return
            await cog.starter.with_defaults(interaction, explicit, "/imagine")

        return imagine

    @commands.Cog.listener(f"on_{CLICKED}")
    async def on_button(
        self, interaction: discord.Interaction, action: str, job_id: int, index: int | None
    ) -> None:
        """Do what a result or status button says (Delete and Cancel: the requester's or a
        moderator's to press)."""
        if action == REMIX:
            return  # the remix cog opens its modal
        try:
            job = await self.facade.job(job_id)
            if action in OWNER_ONLY and not await self._may_manage(interaction, job):
                raise NotYours()
            job = owned_here(interaction, job)
            if action == "delete":
                await interaction.response.defer()
                if interaction.message is not None:
                    await interaction.message.delete()
            elif action == "cancel":
                moderator = job.user_id != interaction.user.id
                await self.facade.cancel(job_id, by=interaction.user.id, moderator=moderator)
                await interaction.response.send_message(
                    tr(interaction.locale, CANCEL_CONFIRMED), ephemeral=True
                )
            else:
                request = self._follow_up(job.request, action, job, index, interaction.message)
                await self.starter.start(interaction, request, private=privacy_of(job), source=job)
        except ImagineError as exc:
            await errors.tell(interaction, exc, f"button {action}")

    async def _may_manage(self, interaction: discord.Interaction, job: Job | None) -> bool:
        """The requester, or a moderator of the job's own server."""
        if job is None:
            return False
        if job.user_id == interaction.user.id:
            return True
        settings = await self.facade.settings(interaction.guild_id or 0)
        return job.guild_id == interaction.guild_id and is_moderator(interaction, settings)

    def _follow_up(
        self,
        request: GenerationRequest,
        action: str,
        job: Job,
        index: int | None,
        message: discord.Message | None,
    ) -> GenerationRequest:
        if action == "reroll":
            return request.model_copy(update={"seed": None})
        seed = job.result.seed if job.result is not None else request.seed
        if action == "raw":
            return request.model_copy(update={"raw": not request.raw, "seed": seed})
        attachments = message.attachments if message is not None else []
        chosen = index or 0
        if chosen >= len(attachments):
            raise NotAllowed(errors.IMAGE_GONE)
        chosen_file = attachments[chosen]
        reference = ReferenceImage(url=chosen_file.url, content_type=chosen_file.content_type)
        update: dict[str, Any] = {"reference": reference, "count": 1, "seed": None}
        subtle, strong = self.facade.vary_strengths()
        if action in ("subtle", "strong"):
            update["reference_strength"] = subtle if action == "subtle" else strong
        return request.model_copy(update=update)


def privacy_of(job: Job) -> Privacy:
    """Where the job's result went: a follow-up of a private result stays private."""
    return Privacy(Reply.of_job(job).private or Privacy.OFF)


def owned_here(interaction: discord.Interaction, job: Job | None) -> Job:
    """The job, if this click may act on it: a job of this server; a private job only for its
    owner (who may click in their direct messages)."""
    if job is None:
        raise UnknownJob()
    private = privacy_of(job) is not Privacy.OFF
    if private and job.user_id != interaction.user.id:
        raise NotYours("use the buttons of a private result")
    if job.guild_id != interaction.guild_id and not (private and interaction.guild_id is None):
        raise UnknownJob()
    return job
