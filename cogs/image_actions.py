"""Image actions on any message (Apps menu): "Imagine from this image" and "Vary this image".

The image is the message's first attachment that is an image, else its first embed image.
Only images Discord serves are used (its CDN and media proxy; or the API's own origin, which
is where a test's fake Discord serves files), then checked like any reference: downloaded
through the one guarded path and probed before anything is charged. "Imagine from this
image" asks for the prompt in a modal; the modal carries the image link itself, so it needs
no memory in the bot and works across a restart.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import ImagineError, InvalidRequest
from bot.models import MAX_PROMPT_CHARS, ReferenceImage
from bot.origins import BadOrigin, origin_of
from bot.pipeline.facade import Facade
from cogs import errors
from cogs.remix import modal_values
from cogs.starter import Starter

FROM_IMAGE, VARY_IMAGE = "Imagine from this image", "Vary this image"
MODAL_ID = "imagine:from"
DISCORD_MEDIA_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
VARY_PROMPT = "a variation of this image"
NO_IMAGE = "an image attached to the message or shown in its embed, served by Discord"


def discord_serves(url: str | None) -> bool:
    """Whether Discord itself serves this link (its CDN or media proxy)."""
    if not url:
        return False
    try:
        origin = origin_of(url)
    except BadOrigin:
        return False
    if origin.scheme == "https" and origin.host in DISCORD_MEDIA_HOSTS:
        return True
    return origin == origin_of(discord.http.Route.BASE)


def image_of(message: discord.Message) -> ReferenceImage:
    """The message's first image Discord serves, as a reference; InvalidRequest if none."""
    for attachment in message.attachments:
        kind = (attachment.content_type or "").split(";")[0].strip()
        if kind.startswith("image/") and discord_serves(attachment.url):
            return ReferenceImage.upload(
                attachment.url, content_type=kind, size=attachment.size, name=attachment.filename
            )
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            for url in (media.url, media.proxy_url):
                if discord_serves(url):
                    return ReferenceImage(url=url)
    raise InvalidRequest(
        "that message has no image Discord serves", field="reference", allowed=NO_IMAGE
    )


def from_image_modal(reference: ReferenceImage) -> discord.ui.Modal:
    """The prompt for "Imagine from this image" (the image link pre-filled)."""
    modal = discord.ui.Modal(title="Imagine from this image", custom_id=MODAL_ID)
    modal.add_item(
        discord.ui.Label(
            text="Prompt",
            component=discord.ui.TextInput(
                custom_id="prompt", style=discord.TextStyle.paragraph, max_length=MAX_PROMPT_CHARS
            ),
        )
    )
    modal.add_item(
        discord.ui.Label(
            text="Image (the message's, as Discord serves it)",
            component=discord.ui.TextInput(
                custom_id="image", default=reference.url, max_length=4000
            ),
        )
    )
    modal.stop()  # answered statelessly by ImageActions.on_interaction
    return modal


class ImageActions(commands.Cog):
    """The two message commands and the modal of the first."""

    def __init__(self, bot: commands.Bot, facade: Facade, starter: Starter) -> None:
        self.bot = bot
        self.facade = facade
        self.starter = starter

    async def cog_load(self) -> None:
        """Add both message commands to the tree."""
        for name, callback in ((FROM_IMAGE, self._from_image), (VARY_IMAGE, self._vary)):
            menu: app_commands.ContextMenu = app_commands.ContextMenu(name=name, callback=callback)
            menu.guild_only = True
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        """Take them out again."""
        for name in (FROM_IMAGE, VARY_IMAGE):
            self.bot.tree.remove_command(name, type=discord.AppCommandType.message)

    async def _from_image(self, interaction: discord.Interaction, message: discord.Message) -> None:
        try:
            await interaction.response.send_modal(from_image_modal(image_of(message)))
        except ImagineError as exc:
            await errors.tell(interaction, exc, FROM_IMAGE)

    async def _vary(self, interaction: discord.Interaction, message: discord.Message) -> None:
        try:
            reference = image_of(message)
        except ImagineError as exc:
            await errors.tell(interaction, exc, VARY_IMAGE)
            return
        prompt = (message.content or "").strip()[:MAX_PROMPT_CHARS] or VARY_PROMPT
        subtle, _ = self.facade.vary_strengths()
        explicit: dict[str, Any] = {
            "prompt": prompt,
            "reference": reference,
            "reference_strength": subtle,
        }
        await self.starter.with_defaults(interaction, explicit, VARY_IMAGE)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A submitted "Imagine from this image" modal."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        if data.get("custom_id") != MODAL_ID:
            return
        values = modal_values(data)
        link = values.get("image", "").strip()
        if not discord_serves(link):
            refused = InvalidRequest(
                "that link is not an image Discord serves", field="reference", allowed=NO_IMAGE
            )
            await errors.tell(interaction, refused, FROM_IMAGE)
            return
        explicit = {"prompt": values.get("prompt", ""), "reference": ReferenceImage(url=link)}
        await self.starter.with_defaults(interaction, explicit, FROM_IMAGE)
