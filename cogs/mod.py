"""/mod: how permissive the bot is in this server, decided by its moderators.

Discord hides the group from members without Manage Server, but server owners can
override that, so every command is checked again here (Manage Server, Administrator or
the moderator role an admin set). Options are re-checked too: Discord's client enforces
ranges and choices, the API does not. Every change goes through the guild directory,
which audits it and refreshes what admission enforces, so it holds from the next /imagine.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import NotAllowed
from bot.limits import GUILD_LIMITS, LIMITS_BY_NAME, LIMITS_BY_OPTION
from bot.models import MAX_TOLERANCE, GuildSettings, NsfwPolicy
from bot.pipeline.facade import Facade
from bot.safety import MAX_PHRASE_CHARS
from bot.text import N_, Phrase
from cogs.audit_view import PER_PAGE, audit_embed
from cogs.checks import is_moderator
from cogs.i18n import tr
from cogs.mod_defaults import ChannelDefaultsCommands
from cogs.mod_support import (
    MAX_REASON_CHARS,
    MESSAGE_LIMIT,
    POLICY_MEANING,
    TOLERANCE_WORDS,
    Channel,
    GuildFacts,
    WorkChannel,
    blocklist_pages,
    change_line,
    check_channel,
    check_operator_ceiling,
    check_range,
    clip,
    list_change,
    safety_reply,
    settings_embed,
    where_it_works,
    with_channel,
    without_channel,
)
from cogs.render import COLOUR, NO_MENTIONS

MAX_AUDIT_PAGE = 10_000
# The /mod limits options' ranges, from the limits' one home (names the signature can use).
_JPM, _BURST = LIMITS_BY_NAME["jobs_per_minute"], LIMITS_BY_NAME["burst"]
_RUN, _QUEUE = LIMITS_BY_NAME["max_running"], LIMITS_BY_NAME["max_queued"]
_URUN, _UQUEUE = LIMITS_BY_NAME["user_max_running"], LIMITS_BY_NAME["user_max_queued"]
NOT_A_MODERATOR = N_(
    "Only this server's moderators can use /mod (Manage Server, or the moderator role an admin "
    "set). Nothing was changed."
)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Moderation(
    ChannelDefaultsCommands,
    commands.GroupCog,
    group_name="mod",
    group_description="Moderator settings",
):
    """The /mod group: safety, nsfw, blocklist, limits, channel, ban, unban, audit, show;
    defaults and private (``cogs.mod_defaults``)."""

    blocklist = app_commands.Group(name="blocklist", description="Phrases refused in prompts")
    channel = app_commands.Group(name="channel", description="Where the bot works")

    def __init__(self, facade: Facade) -> None:
        self.facade = facade
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Moderators only, whatever Discord showed the member."""
        # Errors are raised as the command's own, so the tree's handler tells the member once.
        command: Any = interaction.command
        try:
            settings = await self.facade.settings(interaction.guild_id or 0)
        except Exception as exc:
            raise app_commands.CommandInvokeError(command, exc) from exc
        if is_moderator(interaction, settings):
            return True
        raise app_commands.CommandInvokeError(command, NotAllowed(NOT_A_MODERATOR))

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.followup.send(
            clip(text, MESSAGE_LIMIT), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    async def _change(
        self, interaction: discord.Interaction, **changes: Any
    ) -> tuple[GuildSettings, GuildSettings]:
        try:
            return await self.facade.change_settings(
                interaction.guild_id or 0, interaction.user.id, **changes
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise NotAllowed(
                Phrase(N_("That is not allowed: {reason} Nothing was changed."), reason=str(exc))
            ) from exc

    # --- safety ------------------------------------------------------------------------

    @app_commands.command(name="safety", description="How permissive image generation is")
    @app_commands.describe(
        tolerance=f"0 strictest … {MAX_TOLERANCE} most permissive (default 2)",
        age_restricted="Ceiling in age-restricted channels, at least the tolerance",
    )
    async def safety(
        self,
        interaction: discord.Interaction,
        tolerance: app_commands.Range[int, 0, MAX_TOLERANCE],
        age_restricted: app_commands.Range[int, 0, MAX_TOLERANCE] | None = None,
    ) -> None:
        """Set the tolerance (and ceiling) and show what each provider will be sent."""
        check_range("tolerance", tolerance, 0, MAX_TOLERANCE, TOLERANCE_WORDS)
        max_tolerance = self.facade.max_tolerance
        check_operator_ceiling("tolerance", tolerance, max_tolerance)
        current = await self.facade.settings(interaction.guild_id or 0)
        changes: dict[str, int] = {"safety_tolerance": tolerance}
        raised = False
        if age_restricted is not None:
            check_range("age_restricted", age_restricted, 0, MAX_TOLERANCE, TOLERANCE_WORDS)
            check_operator_ceiling("age_restricted", age_restricted, max_tolerance)
            if age_restricted < tolerance:
                raise NotAllowed(
                    Phrase(
                        N_(
                            "`age_restricted` ({given}) can't be below the tolerance "
                            "({tolerance}): age-restricted channels are at least as permissive "
                            "as the rest of the server. Allowed: a whole number from "
                            "{tolerance} to {highest}. Nothing was changed."
                        ),
                        given=age_restricted,
                        tolerance=tolerance,
                        highest=MAX_TOLERANCE,
                    )
                )
            changes["nsfw_channel_tolerance"] = age_restricted
        elif tolerance > current.nsfw_channel_tolerance:
            changes["nsfw_channel_tolerance"] = tolerance
            raised = True
        await interaction.response.defer(ephemeral=True, thinking=True)
        before, after = await self._change(interaction, **changes)
        providers = self.facade.providers()
        await self._reply(
            interaction,
            safety_reply(before, after, providers, raised=raised, max_tolerance=max_tolerance),
        )

    # --- nsfw --------------------------------------------------------------------------

    @app_commands.command(name="nsfw", description="What happens to images flagged as NSFW")
    @app_commands.describe(
        policy="spoiler: post behind a spoiler; block: not posted outside age-restricted channels",
        refund="Whether blocked images are refunded",
    )
    @app_commands.choices(
        policy=[app_commands.Choice(name=p.value, value=p.value) for p in NsfwPolicy]
    )
    async def nsfw(
        self, interaction: discord.Interaction, policy: str, refund: bool | None = None
    ) -> None:
        """Choose spoiler or block, and whether blocked images are refunded."""
        if policy not in {p.value for p in NsfwPolicy}:
            raise NotAllowed(
                Phrase(
                    N_("`policy` must be spoiler or block; you gave {given}. Nothing was changed."),
                    given=repr(policy),
                )
            )
        changes: dict[str, Any] = {"nsfw_policy": policy}
        if refund is not None:
            changes["refund_blocked"] = refund
        await interaction.response.defer(ephemeral=True, thinking=True)
        before, after = await self._change(interaction, **changes)
        lines = [
            change_line("NSFW policy", before.nsfw_policy.value, after.nsfw_policy.value)
            + f" — {POLICY_MEANING[after.nsfw_policy]}",
            change_line("Refund blocked images", before.refund_blocked, after.refund_blocked),
            tr(interaction.locale, "Takes effect from the next /imagine."),
        ]
        await self._reply(interaction, "\n".join(lines))

    # --- blocklist ---------------------------------------------------------------------

    @blocklist.command(name="add", description="Refuse prompts containing a word or phrase")
    @app_commands.describe(phrase="Matched whole-word, ignoring case, look-alikes and spacing")
    async def block(
        self, interaction: discord.Interaction, phrase: app_commands.Range[str, 1, MAX_PHRASE_CHARS]
    ) -> None:
        """Add a phrase; prompts containing it are refused before anything is charged."""
        key = self.facade.phrase_key(phrase)
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        count = len((await self.facade.rules(guild)).blocklist)
        added = await self.facade.block(guild, interaction.user.id, phrase)
        now = len((await self.facade.rules(guild)).blocklist)
        shown = discord.utils.escape_markdown(phrase.strip())
        if not added:
            await self._reply(
                interaction,
                tr(
                    interaction.locale,
                    "“{phrase}” is already blocked (as `{key}`). Nothing was changed.",
                    phrase=shown,
                    key=key,
                ),
            )
            return
        blocked = tr(
            interaction.locale,
            "Blocked “{phrase}” (matched as `{key}`, whatever the case, look-alike letters, "
            "spaces or dots). Prompts containing it are refused before anything is charged.",
            phrase=shown,
            key=key,
        )
        await self._reply(interaction, f"{blocked}\n" + change_line("Blocked phrases", count, now))

    @blocklist.command(name="remove", description="Stop refusing a word or phrase")
    @app_commands.describe(phrase="The phrase as listed (any spelling that matches it)")
    async def unblock(
        self, interaction: discord.Interaction, phrase: app_commands.Range[str, 1, MAX_PHRASE_CHARS]
    ) -> None:
        """Remove a phrase from the blocklist."""
        self.facade.phrase_key(phrase)
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        count = len((await self.facade.rules(guild)).blocklist)
        removed = await self.facade.unblock(guild, interaction.user.id, phrase)
        now = len((await self.facade.rules(guild)).blocklist)
        shown = discord.utils.escape_markdown(phrase.strip())
        if not removed:
            await self._reply(
                interaction,
                tr(
                    interaction.locale,
                    "“{phrase}” is not on the blocklist. Nothing was changed.",
                    phrase=shown,
                ),
            )
            return
        unblocked = tr(interaction.locale, "Unblocked “{phrase}”.", phrase=shown)
        await self._reply(
            interaction, f"{unblocked}\n" + change_line("Blocked phrases", count, now)
        )

    @blocklist.command(name="list", description="The blocked words and phrases")
    @app_commands.describe(page="Which page, if the list is long")
    async def blocklist_list(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        """Every blocked phrase, a page at a time."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        entries = await self.facade.blocklist(guild)
        pages = blocklist_pages([entry.phrase for entry in entries])
        if not pages:
            await self._reply(
                interaction, tr(interaction.locale, "No phrases are blocked in this server.")
            )
            return
        number = min(max(page, 1), len(pages))
        embed = discord.Embed(
            title=f"Blocked phrases ({len(entries)})",
            description=pages[number - 1],
            colour=COLOUR,
        )
        if len(pages) > 1:
            embed.set_footer(
                text=f"Page {number} of {len(pages)}: /mod blocklist list page:<n> for others"
            )
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # --- limits and channels -----------------------------------------------------------

    @app_commands.command(name="limits", description="How many images can be made, and how fast")
    @app_commands.describe(**{limit.option: limit.description for limit in GUILD_LIMITS})
    async def limits(
        self,
        interaction: discord.Interaction,
        jobs_per_minute: app_commands.Range[float, float(_JPM.low), float(_JPM.high)] | None = None,
        burst: app_commands.Range[int, int(_BURST.low), int(_BURST.high)] | None = None,
        server_running: app_commands.Range[int, int(_RUN.low), int(_RUN.high)] | None = None,
        server_queued: app_commands.Range[int, int(_QUEUE.low), int(_QUEUE.high)] | None = None,
        user_running: app_commands.Range[int, int(_URUN.low), int(_URUN.high)] | None = None,
        user_queued: app_commands.Range[int, int(_UQUEUE.low), int(_UQUEUE.high)] | None = None,
    ) -> None:
        """Change the server's limits; shows each before → after."""
        given = {
            "jobs_per_minute": jobs_per_minute,
            "burst": burst,
            "server_running": server_running,
            "server_queued": server_queued,
            "user_running": user_running,
            "user_queued": user_queued,
        }
        changes: dict[str, float] = {}
        for option, value in given.items():
            if value is None:
                continue
            limit = LIMITS_BY_OPTION[option]
            check_range(option, value, limit.low, limit.high, limit.allowed)
            changes[limit.name] = value
        await interaction.response.defer(ephemeral=True, thinking=True)
        if changes:
            before, after = await self._change(interaction, **changes)
        else:
            before = after = await self.facade.settings(interaction.guild_id or 0)
        lines = [
            change_line(limit.label, getattr(before, limit.name), getattr(after, limit.name))
            for limit in GUILD_LIMITS
        ]
        if not changes:
            options = ", ".join(limit.option for limit in GUILD_LIMITS)
            lines.append(f"Nothing changed: give one or more of {options}.")
        await self._reply(interaction, "\n".join(lines))

    @channel.command(name="allow", description="Let the bot work in a channel")
    @app_commands.describe(channel="Once any channel is allowed, the bot works only there")
    async def channel_allow(
        self,
        interaction: discord.Interaction,
        channel: app_commands.Transform[Channel, WorkChannel],
    ) -> None:
        """Add a channel to the allowed ones (and take it off the denied ones)."""
        await self._place(interaction, channel, allow=True)

    @channel.command(name="deny", description="Stop the bot working in a channel")
    @app_commands.describe(channel="The bot will refuse /imagine there")
    async def channel_deny(
        self,
        interaction: discord.Interaction,
        channel: app_commands.Transform[Channel, WorkChannel],
    ) -> None:
        """Add a channel to the denied ones (and take it off the allowed ones)."""
        await self._place(interaction, channel, allow=False)

    @channel.command(name="reset", description="Let the bot work in every channel again")
    async def channel_reset(self, interaction: discord.Interaction) -> None:
        """Clear both lists."""
        await self._channels(interaction, allowed=(), denied=())

    async def _place(
        self, interaction: discord.Interaction, channel: Channel, *, allow: bool
    ) -> None:
        check_channel(channel)
        current = await self.facade.settings(interaction.guild_id or 0)
        add, drop = (with_channel, without_channel) if allow else (without_channel, with_channel)
        await self._channels(
            interaction,
            allowed=add(current.allowed_channels, channel.id),
            denied=drop(current.denied_channels, channel.id),
        )

    async def _channels(
        self, interaction: discord.Interaction, *, allowed: tuple[int, ...], denied: tuple[int, ...]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        before, after = await self._change(
            interaction, allowed_channels=allowed, denied_channels=denied
        )
        lines = [
            list_change("Allowed channels", before.allowed_channels, after.allowed_channels),
            list_change("Denied channels", before.denied_channels, after.denied_channels),
            where_it_works(after),
        ]
        await self._reply(interaction, "\n".join(lines))

    # --- bans --------------------------------------------------------------------------

    @app_commands.command(name="ban", description="Stop a member from generating images here")
    @app_commands.describe(member="Who", reason="Shown to them when they try")
    async def ban(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        reason: app_commands.Range[str, 1, MAX_REASON_CHARS],
    ) -> None:
        """Ban a member from /imagine in this server, with a reason they are shown."""
        reason = reason.strip()
        if not 1 <= len(reason) <= MAX_REASON_CHARS:
            raise NotAllowed(
                Phrase(
                    N_("`reason` must be 1 to {most} characters. Nothing was changed."),
                    most=MAX_REASON_CHARS,
                )
            )
        if member.bot:
            raise NotAllowed(Phrase(N_("Bots don't generate images; nothing to ban.")))
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        previous = (await self.facade.rules(guild)).banned.get(member.id)
        await self.facade.ban(guild, interaction.user.id, member.id, reason)
        escaped = discord.utils.escape_markdown
        locale = interaction.locale
        was = (
            tr(locale, "not banned")
            if previous is None
            else tr(locale, "banned ({reason})", reason=escaped(previous))
        )
        await self._reply(
            interaction,
            tr(
                locale,
                "{member}: {was} → **banned** ({reason}). They are refused by /imagine here, "
                "and shown the reason.",
                member=member.mention,
                was=was,
                reason=escaped(reason),
            ),
        )

    @app_commands.command(name="unban", description="Let a banned member generate images again")
    @app_commands.describe(member="Who")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        """Lift a member's ban in this server."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild_id or 0
        previous = (await self.facade.rules(guild)).banned.get(member.id)
        lifted = await self.facade.unban(guild, interaction.user.id, member.id)
        if not lifted:
            await self._reply(
                interaction,
                tr(
                    interaction.locale,
                    "{member} is not banned. Nothing was changed.",
                    member=member.mention,
                ),
            )
            return
        await self._reply(
            interaction,
            tr(
                interaction.locale,
                "{member}: banned ({reason}) → **not banned**. They can use /imagine here again.",
                member=member.mention,
                reason=discord.utils.escape_markdown(previous or ""),
            ),
        )

    # --- audit -------------------------------------------------------------------------

    @app_commands.command(name="audit", description="Who changed what here, before and after")
    @app_commands.describe(
        member="Only changes made by or to this member", page="Which page (newest first)"
    )
    async def audit(
        self,
        interaction: discord.Interaction,
        member: discord.User | None = None,
        page: app_commands.Range[int, 1, MAX_AUDIT_PAGE] = 1,
    ) -> None:
        """The audit log, a page at a time, optionally for one member."""
        check_range("page", page, 1, MAX_AUDIT_PAGE, f"a whole number from 1 to {MAX_AUDIT_PAGE}")
        await interaction.response.defer(ephemeral=True, thinking=True)
        who = member.id if member is not None else None
        entries, total = await self.facade.audit_page(
            interaction.guild_id or 0, member=who, page=page, per_page=PER_PAGE
        )
        embed = audit_embed(entries, total, page=page, member=who)
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # --- show --------------------------------------------------------------------------

    @app_commands.command(name="show", description="All moderation settings of this server")
    async def show(self, interaction: discord.Interaction) -> None:
        """Every setting in one embed, with the allowance and prices for context."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        state = await self.facade.rules(interaction.guild_id or 0)
        facts = GuildFacts(
            settings=state.settings,
            providers=self.facade.providers(),
            prices=self.facade.prices(state.settings),
            blocked=len(state.blocklist),
            banned=len(state.banned),
            max_tolerance=self.facade.max_tolerance,
        )
        await interaction.followup.send(
            embed=settings_embed(facts), ephemeral=True, allowed_mentions=NO_MENTIONS
        )
