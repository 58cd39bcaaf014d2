"""/settings: a member's own /imagine defaults in this server, shown and changed with selects
and buttons (like Midjourney's). Every control is a ``DynamicItem`` (``prefs:aspect``…), so
the panel keeps working after a restart; a change is the clicker's own, so nobody can change
another member's defaults.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import NotAllowed
from bot.models import ASPECT_RATIOS, MAX_IMAGES, Defaults, Privacy
from bot.pipeline.facade import Facade
from cogs import errors
from cogs.render import COLOUR, NO_MENTIONS

CHANGED = "member_defaults"  # the client event a change becomes
UNSET = "unset"
_PRIVACY_WORDS = {"off": "posted in the channel", "ephemeral": "only you", "dm": "direct message"}
_CHOICES: dict[str, list[tuple[str, str]]] = {
    "aspect": [(r, r) for r in ASPECT_RATIOS],
    "format": [("JPEG", "jpeg"), ("PNG", "png")],
    "count": [(f"{n} image{'s' if n > 1 else ''}", str(n)) for n in range(1, MAX_IMAGES + 1)],
    "private": [(f"private: {w}", v) for v, w in _PRIVACY_WORDS.items()],
}
_FIELDS = {
    "aspect": "aspect_ratio",
    "format": "output_format",
    "count": "count",
    "private": "private",
}


def _shown(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def panel_embed(saved: Defaults) -> discord.Embed:
    """The member's defaults, as /settings shows them."""
    embed = discord.Embed(
        title="Your /imagine defaults in this server",
        description="Used when you leave an option out. An option you type wins; "
        "unset ones follow the channel's defaults, then the server's.",
        colour=COLOUR,
    )
    embed.add_field(name="Aspect", value=_shown(saved.aspect_ratio))
    embed.add_field(name="Raw", value=_shown(saved.raw))
    embed.add_field(name="Format", value=_shown(saved.output_format))
    embed.add_field(name="Count", value=_shown(saved.count))
    private = _PRIVACY_WORDS.get(str(saved.private), "not set") if saved.private else "not set"
    embed.add_field(name="Private", value=private)
    return embed


class PrefSelect(
    discord.ui.DynamicItem[discord.ui.Select],
    template=r"prefs:(?P<field>aspect|format|count|private)",
):
    """One of the member's defaults, chosen from a list (first entry: not set)."""

    def __init__(
        self, field: str, current: Any = None, choices: list[tuple[str, str]] | None = None
    ) -> None:
        options = [discord.SelectOption(label="not set", value=UNSET, default=current is None)]
        options += [
            discord.SelectOption(label=label, value=value, default=str(current) == value)
            for label, value in (choices or _CHOICES[field])[:24]
        ]
        select: discord.ui.Select = discord.ui.Select(
            custom_id=f"prefs:{field}", options=options, placeholder=field
        )
        super().__init__(select)
        self.field = field

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> PrefSelect:
        """Rebuild from a choice, including on panels shown before a restart."""
        return cls(match["field"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the choice to the /settings cog."""
        data: dict[str, Any] = dict(interaction.data or {})
        values = data.get("values") or [UNSET]
        value = None if values[0] == UNSET else values[0]
        interaction.client.dispatch(CHANGED, interaction, {_FIELDS[self.field]: value})


class PrefButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"prefs:(?P<action>raw|reset)"
):
    """Raw (not set → on → off → not set) and Reset."""

    def __init__(self, action: str) -> None:
        label = "Raw: change" if action == "raw" else "Reset all"
        style = discord.ButtonStyle.secondary if action == "raw" else discord.ButtonStyle.danger
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"prefs:{action}"))
        self.action = action

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> PrefButton:
        """Rebuild from a click, including on panels shown before a restart."""
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the click to the /settings cog."""
        interaction.client.dispatch(CHANGED, interaction, {f"_{self.action}": True})


def panel_view(saved: Defaults, ratios: list[str]) -> discord.ui.View:
    """Four selects (the aspects the enabled providers can make) and Raw and Reset."""
    view = discord.ui.View(timeout=None)
    view.add_item(PrefSelect("aspect", saved.aspect_ratio, [(r, r) for r in ratios]))
    view.add_item(PrefSelect("format", saved.output_format))
    view.add_item(PrefSelect("count", saved.count))
    view.add_item(PrefSelect("private", saved.private))
    view.add_item(PrefButton("raw"))
    view.add_item(PrefButton("reset"))
    return view


class Preferences(commands.Cog):
    """/settings and its panel."""

    def __init__(self, facade: Facade) -> None:
        self.facade = facade

    @app_commands.command(name="settings", description="Your own defaults for /imagine here")
    @app_commands.guild_only()
    async def settings(self, interaction: discord.Interaction) -> None:
        """Show the member's defaults with the controls that change them."""
        saved = await self.facade.member_defaults(interaction.guild_id or 0, interaction.user.id)
        await interaction.response.send_message(
            embed=panel_embed(saved),
            view=panel_view(saved, self.facade.aspect_ratios()),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @commands.Cog.listener(f"on_{CHANGED}")
    async def on_change(self, interaction: discord.Interaction, change: dict[str, Any]) -> None:
        """Apply the clicker's own change and show the panel again."""
        guild_id, user_id = interaction.guild_id or 0, interaction.user.id
        try:
            if change.pop("_reset", False):
                change = {name: None for name in Defaults.model_fields}
            if change.pop("_raw", False):
                now = (await self.facade.member_defaults(guild_id, user_id)).raw
                change["raw"] = {None: True, True: False, False: None}[now]
            private = change.get("private") not in (None, Privacy.OFF.value)
            if private and not (await self.facade.settings(guild_id)).private_allowed:
                raise NotAllowed(
                    "This server does not allow private results (its moderators decide, "
                    "with /mod private); your other defaults are unchanged."
                )
            try:
                saved = await self.facade.change_member_defaults(guild_id, user_id, **change)
            except ValueError as exc:
                raise NotAllowed(f"That is not allowed: {exc}") from exc
            await interaction.response.edit_message(
                embed=panel_embed(saved), view=panel_view(saved, self.facade.aspect_ratios())
            )
        except NotAllowed as exc:
            await errors.tell(interaction, exc, "/settings")
