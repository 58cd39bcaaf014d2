"""The pipeline's events shown in Discord: the status message, the result, the ending.

Each job keeps one public status message: the response to its interaction. It is
edited only when its text changes, and at most every ``edit_every`` seconds; the
result replaces it. The interaction's token lives 15 minutes, so a job that ends
later is posted in the channel with the bot token, and the status message is then
deleted with the bot token too: no placeholder stays behind.
Delivery is idempotent by job: editing ``@original`` again changes nothing, and a
channel post is made once (its id is stored on the job; Discord's enforced nonce
covers a crash between the post and that store).

Why a job ended without images is never public: while the token lives it is an
ephemeral follow-up; later it goes by direct message, and if the member does not take
direct messages from the bot it is kept on the job (``context["untold"]``) for /queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.errors import DeliveryFailed
from bot.images import Upload, fit_all
from bot.jobs import Job
from bot.models import GeneratedImage, JobStatus
from bot.pipeline.facade import Estimate, Facade
from bot.safety import DeliveryPlan
from cogs import render
from cogs.i18n import tr
from cogs.render import NO_MENTIONS
from cogs.reply import Reply
from cogs.views import result_view, status_view

log = logging.getLogger(__name__)

TOKEN_LIFE = 15 * 60
TOKEN_MARGIN = 30.0
# Discord error codes after which the interaction's message can no longer be edited.
INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK, UNKNOWN_MESSAGE = 50027, 10015, 10008
CANNOT_DM = 50007  # the member takes no direct messages from the bot
SENT_BY_DM = "📬 Your image is in your direct messages."


@dataclass
class _Status:
    job: Job
    text: str
    since: float
    shown: str | None = None
    edited_at: float = 0.0
    started_at: float | None = None


class DiscordEvents:
    """PipelineEvents for Discord; also keeps the status messages up to date.

    ``client`` is the Discord client it posts with; ``facade`` is where it keeps what a job
    must remember (message ids, an ending not told yet).
    """

    def __init__(
        self,
        client: discord.Client,
        facade: Facade,
        *,
        edit_every: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.facade = facade
        self.edit_every = edit_every
        self.clock = clock
        self._status: dict[int, _Status] = {}
        self._loop_task: asyncio.Task[None] | None = None

    # --- pipeline events ----------------------------------------------------------------

    async def queued(self, job: Job, estimate: Estimate) -> None:
        """Show the new position and start estimate (edited when due)."""
        self._set(job, render.queued_text(job, estimate))

    async def started(self, job: Job) -> None:
        """Switch the status to 'generating'."""
        entry = self._set(job, render.generating_text(job, 0))
        entry.started_at = self.clock()

    async def deliver(self, job: Job, images: Sequence[GeneratedImage], plan: DeliveryPlan) -> None:
        """Post the images as the plan says, fitted under the upload limits; idempotent."""
        self._status.pop(job.id, None)
        reply = Reply.of_job(job)
        if reply.result_message_id:
            await self._remove_status(job)  # posted before a crash; the status may remain
            return
        if not plan.post:
            await self._tell_privately(job, render.withheld_text(job, plan))
            return
        posted = [images[p.index] for p in plan.post]
        uploads = await fit_all(posted, per_file=reply.upload_limit)
        label = self._label(job)
        seconds = max(0.0, self.clock() - job.created_at)
        embed = render.result_embed(job, uploads, plan, provider_label=label, seconds=seconds)
        view = result_view(job, len(uploads))
        files = [
            self._file(job, i, u, p.spoiler)
            for i, (u, p) in enumerate(zip(uploads, plan.post, strict=True))
        ]
        if reply.private:
            await self._deliver_privately(job, reply.private, embed=embed, files=files, view=view)
            return
        try:
            if self._token_alive(job):
                try:
                    # discord.py's stubs type message_id as int; Discord takes "@original".
                    sent = await self._webhook(job).edit_message(  # type: ignore[call-overload]
                        "@original",
                        content=None,
                        embed=embed,
                        attachments=files,
                        view=view,
                        allowed_mentions=NO_MENTIONS,
                    )
                    await self._remember_image(job, sent)
                    return
                except discord.HTTPException as exc:
                    if exc.code not in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK, UNKNOWN_MESSAGE):
                        raise
                    for file in files:
                        file.reset()
            await self._post_in_channel(job, embed=embed, files=files, view=view)
        except discord.HTTPException as exc:
            raise _delivery_error(exc) from exc
        await self._remove_status(job)

    async def _deliver_privately(self, job: Job, privacy: str, **message: Any) -> None:
        """A private result: by direct message when asked (a refused DM falls back to the
        ephemeral answer), else as the ephemeral answer; never in the channel."""
        alive = self._token_alive(job)
        if privacy == "dm" or not alive:
            try:
                channel = await self.client.create_dm(discord.Object(job.user_id))
                sent = await channel.send(**message, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                if exc.code != CANNOT_DM or not alive:
                    raise _delivery_error(exc) from exc
                log.info("job %d: the member takes no direct messages; shown to them alone", job.id)
                for file in message["files"]:
                    file.reset()
            else:
                await self._remember_image(job, sent)
                if alive:
                    with contextlib.suppress(discord.HTTPException):
                        await self._webhook(job).edit_message(  # type: ignore[call-overload]
                            "@original", content=SENT_BY_DM, allowed_mentions=NO_MENTIONS
                        )
                return
        try:
            sent = await self._webhook(job).edit_message(  # type: ignore[call-overload]
                "@original",
                content=None,
                embed=message["embed"],
                attachments=message["files"],
                view=message["view"],
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            raise _delivery_error(exc) from exc
        await self._remember_image(job, sent)

    async def _remember_image(self, job: Job, sent: discord.Message) -> None:
        """Keep the first image's link for /history's thumbnail."""
        if sent.attachments:
            stored = Reply.of_job(job).but(result_url=sent.attachments[0].url).stored()
            await self.facade.set_context(job.id, stored)

    async def finished(self, job: Job) -> None:
        """A job that ended without images: its status goes, the member is told why, privately."""
        self._status.pop(job.id, None)
        if job.status is JobStatus.DONE:
            return
        try:
            await self._tell_privately(
                job, render.ended_text(job), quiet=job.status is JobStatus.CANCELLED
            )
        except discord.HTTPException as exc:
            log.warning("could not tell the end of job %d: %s", job.id, exc)

    # --- status messages ----------------------------------------------------------------

    async def track(self, job: Job, estimate: Estimate | None) -> None:
        """Start following a newly admitted job; show its place only if it will really wait.

        A job that starts at once keeps Discord's own "thinking…" until its result, so a
        burst of quick jobs costs no status edits at all.
        """
        entry = self._set(job, render.queued_text(job, estimate))
        if estimate is None or estimate.starts_in > self.edit_every:
            await self._edit(entry, self.clock())

    def start(self) -> None:
        """Begin refreshing status messages (once the bot is up)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._refresh_loop(), name="status-refresh")

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def refresh(self) -> None:
        """Edit every status whose text changed, if its last edit is old enough."""
        now = self.clock()
        for entry in list(self._status.values()):
            if entry.shown is None and now - entry.since < self.edit_every:
                continue  # "thinking…" is enough for a job that waited less than that
            if entry.started_at is not None:
                running = now - entry.started_at
                if running < self.edit_every:
                    continue  # quick jobs go straight from "thinking…" to the result
                entry.text = render.generating_text(entry.job, running)
            if entry.text != entry.shown and now - entry.edited_at >= self.edit_every:
                await self._edit(entry, now)

    async def _edit(self, entry: _Status, now: float) -> None:
        if not self._token_alive(entry.job):
            return
        entry.shown, entry.edited_at = entry.text, now
        view = status_view(entry.job) if entry.started_at is None else None
        try:
            # discord.py's stubs type message_id as int; Discord takes "@original".
            await self._webhook(entry.job).edit_message(  # type: ignore[call-overload]
                "@original", content=entry.text, view=view, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.info("status edit for job %d failed: %s", entry.job.id, exc)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing status messages failed")

    def _set(self, job: Job, text: str) -> _Status:
        entry = self._status.get(job.id)
        if entry is None:
            entry = self._status[job.id] = _Status(job, text, since=self.clock())
        entry.job, entry.text = job, text
        return entry

    # --- Discord plumbing ---------------------------------------------------------------

    def _token_alive(self, job: Job) -> bool:
        return self.clock() < Reply.of_job(job).interaction_at + TOKEN_LIFE - TOKEN_MARGIN

    def _webhook(self, job: Job) -> discord.Webhook:
        reply = Reply.of_job(job)
        webhook = discord.Webhook.partial(reply.app_id, reply.token, client=self.client)
        webhook.type = discord.WebhookType.application  # an interaction's webhook; allows ephemeral
        return webhook

    async def _tell_privately(self, job: Job, text: str, *, quiet: bool = False) -> None:
        """Remove the public status and tell the member alone: an ephemeral follow-up while
        the token lives, else a direct message, else a note /queue shows. ``quiet``: the
        member already knows."""
        if not self._token_alive(job):
            await self._remove_status(job)
            if not quiet:
                await self._tell_later(job, text)
            return
        webhook = self._webhook(job)
        with contextlib.suppress(discord.NotFound):
            await webhook.delete_message("@original")  # type: ignore[arg-type]
        if not quiet:
            await webhook.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _tell_later(self, job: Job, text: str) -> None:
        """A direct message; if the member takes none from the bot, a note for /queue."""
        try:
            channel = await self.client.create_dm(discord.Object(job.user_id))
            await channel.send(text, allowed_mentions=NO_MENTIONS)
            return
        except discord.HTTPException as exc:
            log.info("job %d: no direct message to its member (%s); kept for /queue", job.id, exc)
        await self.facade.set_context(job.id, Reply.of_job(job).but(untold=text).stored())

    async def _remove_status(self, job: Job) -> None:
        """Delete the public status message with the bot token (the interaction's is gone)."""
        status = Reply.of_job(job).status_message_id
        if not status:
            return
        try:
            channel = await self._channel(job)
            await channel.get_partial_message(status).delete()
        except discord.HTTPException as exc:
            if not isinstance(exc, discord.NotFound):
                log.warning("could not remove the status of job %d: %s", job.id, exc)

    async def _channel(self, job: Job) -> Any:
        channel_id = Reply.of_job(job).channel_id
        channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
        assert isinstance(channel, discord.abc.Messageable)
        return channel

    async def _post_in_channel(self, job: Job, **message: Any) -> None:
        """Post a late result in the channel (the status it replaced is deleted after)."""
        channel = await self._channel(job)
        mention = f"<@{job.user_id}>"
        here = tr(render.locale_of(job), "{mention}, here is your image.", mention=mention)
        message.setdefault("content", here)
        # With a nonce, discord.py asks Discord to enforce it: a repeat returns the first post.
        sent = await channel.send(
            **message,
            nonce=f"imagine-{job.id}"[:25],
            allowed_mentions=NO_MENTIONS,
        )
        stored = Reply.of_job(job).but(result_message_id=sent.id).stored()
        await self.facade.set_context(job.id, stored)

    def _label(self, job: Job) -> str:
        return self.facade.provider_label(job.provider) if job.provider else "unknown"

    @staticmethod
    def _file(job: Job, index: int, upload: Upload, spoiler: bool) -> discord.File:
        name = f"imagine-{job.id}-{index + 1}.{upload.extension}"
        return discord.File(io.BytesIO(upload.data), filename=name, spoiler=spoiler)


def _delivery_error(exc: discord.HTTPException) -> DeliveryFailed:
    """Retry server-side failures; give up on what retrying cannot fix."""
    permanent = isinstance(exc, discord.Forbidden | discord.NotFound) or 400 <= exc.status < 500
    return DeliveryFailed(f"Discord answered {exc.status}: {exc.text[:200]}", permanent=permanent)
