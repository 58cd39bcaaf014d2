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
from bot.text import N_, Phrase, inert
from cogs.choices import applied_text
from cogs.i18n import Locale, say, tr
from cogs.reply import Reply

PROMPT_PREVIEW = 120
COLOUR = discord.Colour(0x5865F2)
# Every message the bot sends may show mentions, and none of them pings anyone.
NO_MENTIONS = discord.AllowedMentions.none()
# Said after a failure the member was not charged for (a refusal needs no such reassurance).
NOTHING_CHARGED = N_("Nothing was charged.")
NO_ALLOWANCE = N_("no daily allowance in this server")


def refills(seconds: float | None, *, none: str = NO_ALLOWANCE, locale: Locale = None) -> str:
    """When the daily allowance refills, in hours and minutes (``none`` when there is none)."""
    if seconds is None:
        return tr(locale, none)
    hours, minutes = divmod(max(1, round(seconds / 60)), 60)
    if hours:
        return tr(locale, "refills in {hours} h {minutes} min", hours=hours, minutes=minutes)
    return tr(locale, "refills in {minutes} min", minutes=minutes)


def nothing_charged(text: str, locale: Locale = None, *, english: str | None = None) -> str:
    """The sentence with "Nothing was charged." after it, unless it already says so (as
    its English, ``english``, shows)."""
    if "charged" in (text if english is None else english):
        return text
    return f"{text} {tr(locale, NOTHING_CHARGED)}"


CANCEL_CONFIRMED = N_("Cancelled; nothing was charged.")
# How each kind of credit movement reads, in /credits and /admin.
LEDGER_KINDS = {
    "allowance": N_("daily allowance"),
    "grant": N_("grant"),
    "hold": N_("held for a job"),
    "settle": N_("image delivered"),
    "release": N_("refund"),
}


def ledger_kind(kind: str, locale: Locale = None) -> str:
    """How a kind of credit movement reads, in the member's language."""
    return tr(locale, LEDGER_KINDS.get(kind, kind))


def locale_of(job: Job) -> str:
    """The language of the member who asked for the job (stored with it)."""
    return str(job.context.get("locale") or Reply.locale)


def _wait(seconds: float) -> Phrase:
    if seconds < 5:
        return Phrase(N_("in a moment"))
    if seconds < 90:
        return Phrase(N_("in about {seconds} s"), seconds=round(seconds / 5) * 5)
    return Phrase(N_("in about {minutes} min"), minutes=round(seconds / 60))


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
    locale = locale_of(job)
    if estimate is None:
        where = tr(locale, "Waiting in this server's queue.")
    elif estimate.position == 0:
        where = tr(locale, "Next in line, starting {when}.", when=_wait(estimate.starts_in))
    else:
        where = tr(
            locale,
            "Queued: {ahead} ahead of you, starting {when}.",
            ahead=estimate.position,
            when=_wait(estimate.starts_in),
        )
    return f"🕒 {where}\n{preview(job.request.prompt)}"


def generating_text(job: Job, elapsed: float) -> str:
    """The status line while a provider works; changes only every 5 s, so edits stay rare."""
    shown = int(elapsed // 5 * 5)
    generating = tr(locale_of(job), "Generating… {seconds} s", seconds=shown)
    return f"🎨 {generating}\n{preview(job.request.prompt)}"


def ended_text(job: Job) -> str:
    """What the member alone is told when a job ends without images."""
    locale = locale_of(job)
    english = job.error or N_("The job ended.")
    reason = nothing_charged(say(locale, english), locale, english=english)
    icon = {JobStatus.CANCELLED: "🚫", JobStatus.MODERATED: "🛡️"}.get(job.status, "✖")
    return f"{icon} {reason}\n{preview(job.request.prompt, public=False)}"


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
    locale = locale_of(job)
    embed = discord.Embed(description=public_prompt(request.prompt, 2000), colour=COLOUR)
    seed = job.result.seed if job.result and job.result.seed is not None else request.seed
    embed.add_field(
        name=tr(locale, "Seed"), value=str(seed) if seed is not None else tr(locale, "random")
    )
    embed.add_field(name=tr(locale, "Aspect"), value=request.aspect_ratio)
    embed.add_field(name=tr(locale, "Provider"), value=provider_label)
    charged = plan.charged_images * (job.unit_price or 0)
    embed.add_field(name=tr(locale, "Credits"), value=str(charged))
    embed.add_field(name=tr(locale, "Time"), value=tr(locale, "{seconds:.1f} s", seconds=seconds))
    if request.raw:
        embed.add_field(name=tr(locale, "Raw"), value=tr(locale, "on"))
    applied, suffix = job.context.get("applied"), job.context.get("suffix")
    if applied and (shown := applied_text(applied, request, suffix)):
        embed.add_field(
            name=tr(locale, "Defaults applied"), value=public_prompt(shown, 1000), inline=False
        )
    if job.result and job.result.enhanced_prompt:
        embed.add_field(
            name=tr(locale, "Enhanced prompt"),
            value=public_prompt(job.result.enhanced_prompt, 1000),
            inline=False,
        )
    elif request.enhance:
        embed.add_field(
            name=tr(locale, "Enhanced"), value=tr(locale, "yes (the provider did not say how)")
        )
    if plan.verdicts:
        embed.add_field(name=tr(locale, "NSFW check"), value=say(locale, plan.verdicts))
    notes = [say(locale, plan.notice)] if plan.notice else []
    notes += [
        tr(
            locale,
            "image {number} {how} to fit Discord's size limit",
            number=i + 1,
            how=u.reencoded,
        )
        for i, u in enumerate(uploads)
        if u.reencoded
    ]
    if job.result:
        notes += list(job.result.notes)
    if notes:
        embed.set_footer(text="\n".join(notes)[:2048])
    return embed
