"""Starting a job from any entry point: /imagine, a button, the remix modal, a context menu.

Saved defaults are resolved here (``cogs.choices``) into a plain GenerationRequest; the
interaction is answered at once (privately when the job is private), the request handed to
the facade, and the answer becomes the job's status message.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.errors import ImagineError, InvalidRequest, NotAllowed
from bot.jobs import Job
from bot.models import GenerationRequest, Privacy
from bot.pipeline.facade import Facade, Submission
from cogs import errors
from cogs.choices import resolve
from cogs.delivery import DiscordEvents
from cogs.reply import Reply

PRIVATE_DENIED = (
    "This server does not allow private results (its moderators decide, with /mod private). "
    "Ask with private:off, or set your /settings private to off. Nothing was charged."
)


def is_age_restricted(channel: Any) -> bool:
    """Age-restricted channel (threads follow their parent)."""
    check = getattr(channel, "is_nsfw", None)
    return bool(check()) if callable(check) else False


class Starter:
    """Admits jobs for the cogs; ``events`` shows each admitted job's status message."""

    def __init__(self, facade: Facade, events: DiscordEvents) -> None:
        self.facade = facade
        self.events = events

    async def with_defaults(
        self, interaction: discord.Interaction, explicit: dict[str, Any], where: str
    ) -> None:
        """Fill the options left out (None) from saved defaults, then start the job."""
        guild_id, channel_id = interaction.guild_id or 0, interaction.channel_id or 0
        try:
            member = await self.facade.member_defaults(guild_id, interaction.user.id)
            channel = await self.facade.channel_defaults(guild_id, channel_id)
            resolved = resolve(explicit, member, channel)
            request = GenerationRequest.parse(**resolved.fields)
        except InvalidRequest as exc:
            await errors.tell(interaction, exc, where)
            return
        suffix = channel.suffix if "suffix" in resolved.applied else None
        await self.start(
            interaction, request, private=resolved.private, applied=resolved.applied, suffix=suffix
        )

    async def start(
        self,
        interaction: discord.Interaction,
        request: GenerationRequest,
        *,
        private: Privacy = Privacy.OFF,
        applied: dict[str, str] | None = None,
        suffix: str | None = None,
        source: Job | None = None,
    ) -> None:
        """Acknowledge at once, admit the job, and make the placeholder its status message.

        ``source``: the job whose button or modal this is (its server and channel are used
        when the click comes from a direct message).
        """
        secret = private is not Privacy.OFF
        response = await interaction.response.defer(thinking=True, ephemeral=secret)
        status_id = response.message_id if response is not None else None
        guild_id = interaction.guild_id or (source.guild_id if source else 0)
        channel_id = interaction.channel_id or 0
        age_restricted = is_age_restricted(interaction.channel)
        if source is not None and interaction.guild_id is None:
            channel_id, age_restricted = source.channel_id, source.age_restricted
        try:
            if secret and not (await self.facade.settings(guild_id)).private_allowed:
                raise NotAllowed(PRIVATE_DENIED)
            reference = request.reference
            if reference is not None and reference.url is not None:
                await self.facade.check_reference_link(reference.url, reference.content_type)
        except ImagineError as exc:
            await errors.tell(interaction, exc, "/imagine")
            return
        reply = Reply.of(interaction, status_id).but(
            private=private.value if secret else None,
            applied=applied or None,
            suffix=suffix,
            channel_id=channel_id,
        )
        submission = Submission(
            guild_id=guild_id,
            user_id=interaction.user.id,
            channel_id=channel_id,
            request=request,
            age_restricted=age_restricted,
            context=reply.stored(),
        )
        try:
            admitted = await self.facade.submit(submission)
        except ImagineError as exc:
            await errors.tell(interaction, exc, "/imagine")
            return
        await self.events.track(admitted.job, admitted.estimate)
