"""How jobs look in Discord: status lines and the result embed. Pure: no I/O.

A prompt is shown two ways. Where others see it (the public status line, the result
embed) it is made inert: hidden and direction-changing characters removed
(``bot.text.inert``), then markdown, ``<…>`` tokens (mentions, channels, timestamps) and
@everyone/@here escaped, so it reads as plain text. Where only the member sees it (their
private messages, /queue) it is as they typed it, escaped only so that it reads literally.
The provider always receives it exactly as typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import discord

from bot.images import Upload
from bot.jobs import Job
from bot.models import JobStatus
from bot.pipeline.facade import Estimate
from bot.safety import DeliveryPlan
from bot.text import inert
from cogs.choices import applied_text

PROMPT_PREVIEW = 120
COLOUR = discord.Colour(0x5865F2)
# Every message the bot sends may show mentions, and none of them pings anyone.
NO_MENTIONS = discord.AllowedMentions.none()
# Said after a failure the member was not charged for (a refusal needs no such reassurance).
NOTHING_CHARGED = "Nothing was charged."


def refills(seconds: float | None, *, none: str = "no daily allowance in this server") -> str:
    """When the daily allowance refills, in hours and minutes (``none`` when there is none)."""
    if seconds is None:
        return none
    hours, minutes = divmod(max(1, round(seconds / 60)), 60)
    return f"refills in {hours} h {minutes} min" if hours else f"refills in {minutes} min"


def nothing_charged(text: str) -> str:
    """The sentence with "Nothing was charged." after it, unless it already says so."""
    return text if "charged" in text else f"{text} {NOTHING_CHARGED}"


CANCEL_CONFIRMED = "Cancelled; nothing was charged."
# How each kind of credit movement reads, in /credits and /admin.
LEDGER_KINDS = {
    "allowance": "daily allowance",
    "grant": "grant",
    "hold": "held for a job",
    "settle": "image delivered",
    "release": "refund",
}


def _wait(seconds: float) -> str:
    if seconds < 5:
        return "in a moment"
    if seconds < 90:
        return f"in about {round(seconds / 5) * 5} s"
    return f"in about {round(seconds / 60)} min"


_EVERYONE = re.compile(r"@(everyone|here)")
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def literal(text: str) -> str:
    """Text that Discord shows as written: markdown, ``<…>`` tokens and @everyone escaped."""
    escaped = discord.utils.escape_markdown(text).replace("<", "\\<")
    return _EVERYONE.sub(r"\\@\1", escaped)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def public_prompt(prompt: str, limit: int = PROMPT_PREVIEW) -> str:
    """The prompt as others see it: inert, escaped, at most ``limit`` characters before escaping."""
    return literal(_cut(inert(prompt), limit))


def own_prompt(prompt: str, limit: int = PROMPT_PREVIEW) -> str:
    """The prompt as its author typed it (line breaks as spaces), escaped to read literally."""
    return literal(_cut(_BREAKS.sub(" ", prompt), limit))


def preview(prompt: str, *, public: bool = True) -> str:
    """The prompt shortened for a status line, quoted; ``public=False`` for the member's eyes."""
    return f"> {public_prompt(prompt) if public else own_prompt(prompt)}"


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
    """What the member alone is told when a job ends without images."""
    reason = job.error or "The job ended."
    icon = {JobStatus.CANCELLED: "🚫", JobStatus.MODERATED: "🛡️"}.get(job.status, "✖")
    return f"{icon} {nothing_charged(reason)}\n{preview(job.request.prompt, public=False)}"


def withheld_text(job: Job, plan: DeliveryPlan) -> str:
    """When every image was held back by the server's NSFW policy (told to the member alone)."""
    return f"⚠️ {plan.notice}\n{preview(job.request.prompt, public=False)}"


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
    embed = discord.Embed(description=public_prompt(request.prompt, 2000), colour=COLOUR)
    seed = job.result.seed if job.result and job.result.seed is not None else request.seed
    embed.add_field(name="Seed", value=str(seed) if seed is not None else "random")
    embed.add_field(name="Aspect", value=request.aspect_ratio)
    embed.add_field(name="Provider", value=provider_label)
    charged = plan.charged_images * (job.unit_price or 0)
    embed.add_field(name="Credits", value=str(charged))
    embed.add_field(name="Time", value=f"{seconds:.1f} s")
    if request.raw:
        embed.add_field(name="Raw", value="on")
    applied, suffix = job.context.get("applied"), job.context.get("suffix")
    if applied and (shown := applied_text(applied, request, suffix)):
        embed.add_field(name="Defaults applied", value=public_prompt(shown, 1000), inline=False)
    if job.result and job.result.enhanced_prompt:
        embed.add_field(
            name="Enhanced prompt",
            value=public_prompt(job.result.enhanced_prompt, 1000),
            inline=False,
        )
    elif request.enhance:
        embed.add_field(name="Enhanced", value="yes (the provider did not say how)")
    if plan.verdicts:
        embed.add_field(name="NSFW check", value=plan.verdicts)
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
