"""How /admin answers look: periods, the usage and member views, providers. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import discord
from discord import app_commands

from bot.errors import InvalidRequest
from bot.money import usd
from bot.pipeline.facade import DAY, LedgerEntry, ProviderSpend, ProviderStatus, Usage, utc_day
from bot.text import N_, Phrase
from cogs.render import COLOUR, LEDGER_KINDS

PERIODS: dict[str, tuple[int | None, str]] = {
    "day": (1, "today (UTC)"),
    "week": (7, "the last 7 days"),
    "month": (30, "the last 30 days"),
    "all": (None, "all time"),
}
PERIOD_CHOICES = [
    app_commands.Choice(name=f"{name}: {label}", value=name) for name, (_, label) in PERIODS.items()
]
FIELD_LIMIT = 1024


@dataclass(frozen=True)
class Period:
    """A reporting period: ``since`` inclusive, ``until`` exclusive (unix seconds, UTC days)."""

    name: str
    since: float
    until: float
    label: str

    @property
    def days(self) -> tuple[str, str] | None:
        """First and last UTC day, to spread the chart over the whole period (None for all)."""
        if self.since <= 0:
            return None
        return utc_day(self.since), utc_day(self.until - 1)


def period_bounds(name: str, now: float) -> Period:
    """day = the current UTC day, week/month = the last 7/30 UTC days, all = everything."""
    if name not in PERIODS:
        raise InvalidRequest(
            Phrase(N_("{period} is not a period"), period=repr(name)),
            field="period",
            allowed=", ".join(PERIODS),
        )
    days, label = PERIODS[name]
    until = (now // DAY + 1) * DAY
    since = 0.0 if days is None else until - days * DAY
    return Period(name, since, until, label)


@dataclass(frozen=True)
class MemberSpend:
    """One member's credits over a period, folded from their ledger movements."""

    credits: int = 0
    images: int = 0
    jobs: int = 0
    granted: int = 0


def member_spend(entries: Iterable[LedgerEntry], user_id: int) -> MemberSpend:
    """What ``user_id`` spent and was granted; settles count as the usage report counts them."""
    credits = images = jobs = granted = 0
    for e in entries:
        if e.user_id != user_id:
            continue
        if e.kind == "settle":
            credits, images, jobs = credits + e.charged, images + e.images, jobs + 1
        elif e.kind == "grant":
            granted += e.amount
    return MemberSpend(credits, images, jobs, granted)


def _lines(lines: Sequence[str], empty: str) -> str:
    text, kept = "", 0
    for line in lines:
        if len(text) + len(line) + 1 > FIELD_LIMIT - 20:
            break
        text, kept = f"{text}\n{line}" if text else line, kept + 1
    if kept < len(lines):
        text += f"\n… and {len(lines) - kept} more"
    return text or empty


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def usage_embed(usage: Usage, period: Period, labels: Mapping[str, str]) -> discord.Embed:
    """Totals, top members (mentioned, never pinged) and providers over the period."""
    embed = discord.Embed(
        title=f"Credits spent: {period.label}",
        description=(
            f"**{usage.credits}** credits · {_plural(usage.images, 'image')} · "
            f"{_plural(usage.jobs, 'job')}"
        ),
        colour=COLOUR,
    )
    top = [
        f"{rank}. <@{user}>: {credits} credits, {_plural(images, 'image')}"
        for rank, (user, credits, images) in enumerate(usage.top_users, start=1)
    ]
    embed.add_field(name="Top members", value=_lines(top, "nobody spent credits"), inline=False)
    providers = [
        f"{labels.get(name, name)}: {credits} credits, {_plural(images, 'image')}"
        for name, credits, images in usage.providers
    ]
    embed.add_field(name="Per provider", value=_lines(providers, "none"), inline=False)
    if not usage.jobs:
        embed.set_footer(text="No credits were spent in this period.")
    return embed


def _movement(e: LedgerEntry, user_id: int) -> str:
    if e.kind == "settle":
        text = f"{LEDGER_KINDS['settle']}: charged {e.charged} at {e.provider}"
        return text + (f", {e.amount} returned" if e.amount else "")
    text = f"{LEDGER_KINDS.get(e.kind, e.kind)}: {e.amount:+d}"
    if e.actor_id and e.actor_id != user_id:
        text += f" by <@{e.actor_id}>"
    return text + (f" ({e.note})" if e.note else "")


def member_embed(
    user_id: int, spend: MemberSpend, period: Period, history: Sequence[LedgerEntry]
) -> discord.Embed:
    """One member's spend over the period and their latest movements."""
    embed = discord.Embed(
        title=f"Member usage: {period.label}",
        description=(
            f"<@{user_id}> spent **{spend.credits}** credits on "
            f"{_plural(spend.images, 'image')} in {_plural(spend.jobs, 'job')}; "
            f"granted {spend.granted:+d} in this period."
        ),
        colour=COLOUR,
    )
    lines = [f"<t:{int(e.at)}:f> {_movement(e, user_id)}" for e in history]
    embed.add_field(name="Latest movements", value=_lines(lines, "none yet"), inline=False)
    return embed


def grant_text(user_id: int, asked: int, applied: int) -> str:
    """What a grant actually did, which may be less than asked when taking credits back."""
    who = f"<@{user_id}>"
    if asked > 0:
        return f"Gave {who} {applied} credits; granted credits never expire."
    if applied == 0:
        return f"{who} has no granted credits to take back; nothing changed."
    if -applied < -asked:
        return (
            f"Took back {-applied} credits from {who}, not {-asked}: that was all of their "
            "granted credits (the daily allowance is not taken back)."
        )
    return f"Took back {-applied} credits from {who}."


def _state(status: ProviderStatus) -> str:
    if status.switched_off:
        minutes = status.retry_in / 60
        when = f"{minutes:.0f} min" if minutes >= 1 else f"{status.retry_in:.0f} s"
        why = f" ({status.last_error[:150]})" if status.last_error else ""
        return f"⛔ switched off after failures; tried again in about {when}{why}"
    if status.on_trial:
        return "🔁 on trial: the next job tests whether it works again"
    return "✅ on"


def providers_embed(
    statuses: Sequence[ProviderStatus],
    prices: Mapping[str, int],
    spend: Sequence[ProviderSpend] = (),
) -> discord.Embed:
    """Each enabled provider in the order tried: state, recent success, median time, price,
    and what it made for this server's jobs in the last 30 days, in money."""
    embed = discord.Embed(
        title="Image providers",
        description="Tried in this order; a provider that keeps failing is switched off "
        "for a while and the next one takes its jobs.",
        colour=COLOUR,
    )
    spent = {row.provider: row for row in spend}
    for rank, status in enumerate(statuses, start=1):
        name, rate, median = status.name, status.success_rate, status.median_seconds
        recent = (
            f"{rate:.0%} of the last {_plural(status.recent_jobs, 'job')} delivered"
            if rate is not None
            else "no jobs yet"
        )
        timing = f"median {median:.1f} s" if median is not None else "median time unknown"
        lines = [
            _state(status),
            f"{recent} · {timing} · {_plural(prices.get(name, 0), 'credit')} per image",
        ]
        if name in spent:
            lines.append(spend_line(spent[name]))
        embed.add_field(
            name=f"{rank}. {status.label} ({name})", value="\n".join(lines), inline=False
        )
    for gone in sorted(set(spent) - {status.name for status in statuses}):
        embed.add_field(name=f"{gone} (no longer enabled)", value=spend_line(spent[gone]))
    if not statuses:
        embed.description = "No provider is configured."
    if spent:
        embed.set_footer(
            text="Last 30 days, at list prices (the operator's PROVIDER_COSTS where set). "
            "`imagine-bot usage --tasks FILE` lists every task for the provider's invoice."
        )
    return embed


def spend_line(row: ProviderSpend) -> str:
    """What one provider made for this server's jobs: tasks, images, money, and what went wrong."""
    line = (
        f"💵 {_plural(row.made, 'task')} made, {_plural(row.delivered_images, 'image')} "
        f"delivered, {usd(row.paid_micros)} paid"
    )
    wasted = sum(row.undelivered.values())
    if wasted:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(row.undelivered.items()))
        line += f"; {_plural(wasted, 'paid task')} delivered nothing ({why})"
    if row.doubt:
        line += f"; {_plural(row.doubt, 'task')} in doubt, up to {usd(row.doubt_micros)}"
    return line
