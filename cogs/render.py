"""How jobs look in Discord: status lines and the result embed. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.images import Upload
from bot.models import JobStatus
from bot.pipeline.jobs import Job
from bot.pipeline.scheduler import Estimate
from bot.safety import DeliveryPlan

PROMPT_PREVIEW = 120
COLOUR = discord.Colour(0x5865F2)


def _wait(seconds: float) -> str:
    if seconds < 5:
        return "in a moment"
    if seconds < 90:
        return f"in about {round(seconds / 5) * 5} s"
    return f"in about {round(seconds / 60)} min"


def preview(prompt: str) -> str:
    """The prompt shortened for a status line, quoted."""
    short = prompt if len(prompt) <= PROMPT_PREVIEW else prompt[: PROMPT_PREVIEW - 1] + "…"
    return f"> {short}"


def queued_text(job: Job, estimate: Estimate | None) -> str:
    """The status line of a waiting job."""
    if estimate is None:
        where = "Waiting in this server's queue"
    elif estimate.position == 0:
        where = f"Next in line, starting {_wait(estimate.starts_in)}"
    else:
        where = f"Queued: {estimate.position} ahead of you, starting {_wait(estimate.starts_in)}"
    return f"🕒 {where}.\n{preview(job.request.prompt)}"


def generating_text(job: Job, elapsed: float) -> str:
    """The status line while a provider works; changes only every 5 s, so edits stay rare."""
    shown = int(elapsed // 5 * 5)
    return f"🎨 Generating… {shown} s\n{preview(job.request.prompt)}"


def ended_text(job: Job) -> str:
    """What replaces the status when a job ends without images."""
    reason = job.error or "The job ended."
    icon = {JobStatus.CANCELLED: "🚫", JobStatus.MODERATED: "🛡️"}.get(job.status, "✖")
    return f"{icon} {reason} Nothing was charged.\n{preview(job.request.prompt)}"


def withheld_text(job: Job, plan: DeliveryPlan) -> str:
    """When every image was held back by the server's NSFW policy."""
    return f"⚠️ {plan.notice}\n{preview(job.request.prompt)}"


def result_embed(
    job: Job,
    uploads: Sequence[Upload],
    plan: DeliveryPlan,
    *,
    provider_label: str,
    seconds: float,
) -> discord.Embed:
    """The embed under the images: prompt, seed, aspect, provider, credits, time, notes."""
    request = job.request
    embed = discord.Embed(description=request.prompt[:4000], colour=COLOUR)
    seed = job.result.seed if job.result and job.result.seed is not None else request.seed
    embed.add_field(name="Seed", value=str(seed) if seed is not None else "random")
    embed.add_field(name="Aspect", value=request.aspect_ratio)
    embed.add_field(name="Provider", value=provider_label)
    charged = plan.charged_images * (job.unit_price or 0)
    embed.add_field(name="Credits", value=str(charged))
    embed.add_field(name="Time", value=f"{seconds:.1f} s")
    if request.raw:
        embed.add_field(name="Raw", value="on")
    notes = [plan.notice] if plan.notice else []
    notes += [
        f"image {i + 1} {u.reencoded} to fit Discord's size limit"
        for i, u in enumerate(uploads)
        if u.reencoded
    ]
    if job.result:
        notes += list(job.result.notes)
    if notes:
        embed.set_footer(text="\n".join(notes)[:2048])
    return embed
