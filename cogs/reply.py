"""How the bot reaches the member who asked for a job: stored with the job, typed here.

The pipeline keeps it as opaque JSON (``Job.context``); only the Discord layer reads it.
Fields an older bot did not store read as their defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import discord

from bot.jobs import Job

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
UNTOLD = "untold"  # the field holding an ending the member could not be told yet


@dataclass(frozen=True)
class Reply:
    """Where and how a job's result or ending goes."""

    app_id: int
    token: str
    channel_id: int
    interaction_at: float
    status_message_id: int | None = None
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    result_message_id: int | None = None
    untold: str | None = None
    private: str | None = None  # "ephemeral" or "dm": the result is for the member alone
    applied: dict[str, str] | None = None  # option → whose default filled it in
    suffix: str | None = None  # the channel's pinned suffix, when it was appended
    result_url: str | None = None  # the first image as posted (a /history thumbnail)
    locale: str = "en-US"  # the member's Discord language: later messages are in it too

    @classmethod
    def of(cls, interaction: discord.Interaction, status_message_id: int | None) -> Reply:
        """What the job must remember to reach this member later, even after a restart."""
        return cls(
            app_id=interaction.application_id,
            token=interaction.token,
            channel_id=interaction.channel_id or 0,
            interaction_at=interaction.created_at.timestamp(),
            status_message_id=status_message_id,
            upload_limit=interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT,
            locale=str(interaction.locale),
        )

    @classmethod
    def of_job(cls, job: Job) -> Reply:
        """The job's stored context, read back (missing fields take their defaults)."""
        known = {f.name for f in fields(cls)}
        stored: dict[str, Any] = {k: v for k, v in job.context.items() if k in known}
        stored.setdefault("interaction_at", job.created_at)
        return cls(**stored)

    def stored(self) -> dict[str, Any]:
        """The JSON the pipeline keeps for the job."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def but(self, **changes: Any) -> Reply:
        """This reply with some fields changed."""
        return replace(self, **changes)
