"""/admin: where the server's credits go and what they cost, for the server's admins.

One top-level group, so Discord hides it from members without Administrator; Discord's
setting is only a hint (server owners can override it), so every use is checked again
here and refused privately, before anything is read or changed. Every change goes
through the guild directory, which writes it to the audit log. Replies are ephemeral
and never ping anyone.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.charts import spend_chart
from bot.errors import InvalidRequest
from bot.exports import ledger_csv
from bot.limits import DAILY_ALLOWANCE, PRICE_PER_IMAGE
from bot.pipeline.facade import Facade
from bot.text import N_, Phrase
from cogs.admin_usage import (
    PERIOD_CHOICES,
    grant_text,
    member_embed,
    member_spend,
    period_bounds,
    providers_embed,
    usage_embed,
)
from cogs.i18n import tr
from cogs.render import NO_MENTIONS

MAX_GRANT = 1_000_000
# The /admin options' ranges, from the settings' one home (names the signatures can use).
MAX_ALLOWANCE = int(DAILY_ALLOWANCE.high)
MAX_PRICE = int(PRICE_PER_IMAGE.high)
HISTORY = 10


def _check_range(value: int, low: int, high: int, field: str) -> None:
    """Discord's client enforces option ranges, but a crafted request need not."""
    if not low <= value <= high:
        raise InvalidRequest(
            Phrase(N_("{value} is out of range"), value=value),
            field=field,
            allowed=Phrase(N_("a whole number from {low} to {high}"), low=low, high=high),
        )


class AdminCommands(app_commands.Group):
    """The /admin subcommands; the group's check runs before each of them."""

    def __init__(self, facade: Facade, *, clock: Callable[[], float]) -> None:
        super().__init__(
            name="admin",
            description="Server admins: credit usage, exports, grants, prices, providers",
            guild_only=True,
            default_permissions=discord.Permissions(administrator=True),
        )
        self.facade = facade
        self.clock = clock
        self.add_command(self._price_command([p.name for p in facade.providers()]))

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Administrators only, whatever Discord's client let through."""
        if interaction.guild_id is None or not interaction.permissions.administrator:
            raise app_commands.MissingPermissions(["administrator"])
        return True

    async def _reply(self, interaction: discord.Interaction, text: str = "", **extra: Any) -> None:
        if text:
            extra["content"] = text
        await interaction.followup.send(ephemeral=True, allowed_mentions=NO_MENTIONS, **extra)

    # --- what the credits went on -------------------------------------------------------

    @app_commands.command(name="usage", description="Credits spent here: totals, top members")
    @app_commands.describe(
        period="Which days to count (UTC; default the last 30 days)",
        member="Show one member's spend and history instead",
    )
    @app_commands.choices(period=PERIOD_CHOICES)
    async def usage(
        self,
        interaction: discord.Interaction,
        period: str = "month",
        member: discord.Member | discord.User | None = None,
    ) -> None:
        """The guild's spend over the period with a chart per day, or one member's."""
        span = period_bounds(period, self.clock())
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        if member is not None:
            entries = await self.facade.ledger_entries(guild, since=span.since, until=span.until)
            history = await self.facade.history(guild, member.id, limit=HISTORY)
            spend = member_spend(entries, member.id)
            await self._reply(interaction, embed=member_embed(member.id, spend, span, history))
            return
        usage = await self.facade.usage(guild, since=span.since, until=span.until)
        rows = await self.facade.spend_by_day(guild, since=span.since, until=span.until)
        labels = {p.name: p.label for p in self.facade.providers()}
        embed = usage_embed(usage, span, labels)
        files = []
        if rows:
            png = await asyncio.to_thread(
                spend_chart, rows, title=f"Credits spent per day, {span.label}", span=span.days
            )
            files.append(discord.File(io.BytesIO(png), filename="spend.png"))
            embed.set_image(url="attachment://spend.png")
        await self._reply(interaction, embed=embed, files=files)

    @app_commands.command(name="export", description="This server's credit ledger as a CSV file")
    @app_commands.describe(period="Which days to export (UTC; default the last 30 days)")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def export(self, interaction: discord.Interaction, period: str = "month") -> None:
        """Every credit movement of the period, one CSV row each."""
        span = period_bounds(period, self.clock())
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        entries = await self.facade.ledger_entries(guild, since=span.since, until=span.until)
        data = (await asyncio.to_thread(ledger_csv, entries)).encode("utf-8")
        if len(data) > interaction.filesize_limit:
            await self._reply(
                interaction,
                tr(
                    interaction.locale,
                    "The export is {size:.1f} MiB, over this server's upload limit. Choose a "
                    "shorter period, or ask the operator for "
                    "`imagine-bot usage --guild {guild} --csv FILE`.",
                    size=len(data) / 2**20,
                    guild=guild,
                ),
            )
            return
        day = time.strftime("%Y%m%d", time.gmtime(self.clock()))
        name = f"ledger-{guild}-{span.name}-{day}.csv"
        await self._reply(
            interaction,
            f"{len(entries)} credit movements, {span.label}.",
            file=discord.File(io.BytesIO(data), filename=name),
        )

    @app_commands.command(name="providers", description="Enabled image providers and their health")
    async def providers(self, interaction: discord.Interaction) -> None:
        """Order, state (switched off or not), recent success and speed, this server's prices."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = await self.facade.settings(interaction.guild_id or 0)
        month = period_bounds("month", self.clock())
        spend = await self.facade.provider_spend(
            interaction.guild_id or 0, since=month.since, until=month.until
        )
        embed = providers_embed(self.facade.provider_status(), self.facade.prices(settings), spend)
        await self._reply(interaction, embed=embed)

    # --- what admins decide -------------------------------------------------------------

    @app_commands.command(name="grant", description="Give a member credits (negative: take back)")
    @app_commands.describe(
        member="Who gets the credits",
        amount="Credits to give; negative takes granted credits back (never below zero)",
        note="Why (kept in the ledger)",
    )
    async def grant(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, -MAX_GRANT, MAX_GRANT],
        note: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Granted credits never expire; taking back stops at what the member still has."""
        _check_range(amount, -MAX_GRANT, MAX_GRANT, "amount")
        if amount == 0:
            raise InvalidRequest(
                Phrase(N_("0 changes nothing")),
                field="amount",
                allowed=Phrase(N_("a non-zero number")),
            )
        if member.bot:
            raise InvalidRequest(Phrase(N_("bots don't make images")), field="member")
        await interaction.response.defer(ephemeral=True, thinking=True)
        applied = await self.facade.grant(
            interaction.guild_id or 0, interaction.user.id, member.id, amount, (note or "")[:200]
        )
        await self._reply(interaction, grant_text(member.id, amount, applied))

    @app_commands.command(name="allowance", description="Everyone's free credits per UTC day")
    @app_commands.describe(amount="Credits per member per day; 0 turns the allowance off")
    async def allowance(
        self, interaction: discord.Interaction, amount: app_commands.Range[int, 0, MAX_ALLOWANCE]
    ) -> None:
        """Raising it tops everyone up today; lowering it takes back nothing already given."""
        _check_range(amount, 0, MAX_ALLOWANCE, "amount")
        await interaction.response.defer(ephemeral=True, thinking=True)
        before, after = await self.facade.change_settings(
            interaction.guild_id or 0, interaction.user.id, daily_allowance=amount
        )
        if after.daily_allowance == 0:
            text = tr(
                interaction.locale,
                "The daily allowance is off (it was {before}).",
                before=before.daily_allowance,
            )
        else:
            text = tr(
                interaction.locale,
                "Daily allowance: {before} → {after} credits per member. It applies from now; "
                "credits already given today stay.",
                before=before.daily_allowance,
                after=after.daily_allowance,
            )
        await self._reply(interaction, text)

    def _price_command(self, providers: list[str]) -> app_commands.Command[Any, Any, None]:
        group = self

        choices = [app_commands.Choice(name=p, value=p) for p in providers[:25]]

        @app_commands.command(name="price", description="This server's price per image")
        @app_commands.describe(
            provider="An enabled provider", credits=f"Credits per image, 0 to {MAX_PRICE}"
        )
        @app_commands.choices(**({"provider": choices} if choices else {}))
        async def price(
            interaction: discord.Interaction,
            provider: str,
            credits: app_commands.Range[int, 0, MAX_PRICE],
        ) -> None:
            await group.set_price(interaction, provider, credits)

        return price

    async def set_price(
        self, interaction: discord.Interaction, provider: str, credits: int
    ) -> None:
        """The guild's own price per image at one provider; holds and charges follow it."""
        enabled = [p.name for p in self.facade.providers()]
        if provider not in enabled:
            raise InvalidRequest(
                Phrase(N_("{provider} is not enabled"), provider=repr(provider)),
                field="provider",
                allowed=", ".join(enabled),
            )
        _check_range(credits, 0, MAX_PRICE, "credits")
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        current = await self.facade.settings(guild)
        was = self.facade.prices(current)[provider]
        _, after = await self.facade.change_settings(
            guild, interaction.user.id, prices={**current.prices, provider: credits}
        )
        now = self.facade.prices(after)[provider]
        await self._reply(
            interaction,
            tr(
                interaction.locale,
                "Price per image at {provider}: {before} → {after} credits. It applies to jobs "
                "started from now on.",
                provider=provider,
                before=was,
                after=now,
            ),
        )

    @app_commands.command(name="modrole", description="The role whose members may use /mod")
    @app_commands.describe(role="Members with this role may use /mod", clear="Remove the role")
    async def modrole(
        self,
        interaction: discord.Interaction,
        role: discord.Role | None = None,
        clear: bool = False,
    ) -> None:
        """Set, clear or show the moderator role (Manage Server always may use /mod)."""
        if role is not None and clear:
            raise InvalidRequest(Phrase(N_("give a role or clear, not both")), field="role")
        guild = interaction.guild_id or 0
        if role is not None and role.id == guild:
            raise InvalidRequest(
                Phrase(N_("@everyone would make every member a moderator")),
                field="role",
                allowed=Phrase(N_("a role")),
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        if role is None and not clear:
            current = (await self.facade.settings(guild)).moderator_role_id
            shown = f"<@&{current}>" if current else tr(interaction.locale, "not set")
            await self._reply(
                interaction,
                tr(
                    interaction.locale,
                    "Moderator role: {role}. Members with Manage Server may always use /mod.",
                    role=shown,
                ),
            )
            return
        new = role.id if role is not None else None
        before, _ = await self.facade.change_settings(
            guild, interaction.user.id, moderator_role_id=new
        )
        locale = interaction.locale
        was = f"<@&{before.moderator_role_id}>" if before.moderator_role_id else tr(locale, "none")
        mention = f"<@&{new}>"
        text = (
            tr(locale, "Moderator role: {before} → {after}.", before=was, after=mention)
            if new
            else tr(locale, "Moderator role cleared (was {before}).", before=was)
        )
        always = tr(locale, "Members with Manage Server may always use /mod.")
        await self._reply(interaction, f"{text} {always}")


class Administration(commands.Cog):
    """Owns the /admin group: added to ``bot``'s command tree on load, removed on unload."""

    def __init__(
        self, bot: commands.Bot, facade: Facade, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.bot = bot
        self.group = AdminCommands(facade, clock=clock or facade.now)

    async def cog_load(self) -> None:
        """Register /admin."""
        self.bot.tree.add_command(self.group)

    async def cog_unload(self) -> None:
        """Take /admin back out of the tree."""
        self.bot.tree.remove_command(self.group.name)
