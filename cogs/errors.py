"""The one place errors become what a member reads: short, ephemeral, never a traceback,
in the member's language."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.errors import UNEXPECTED, ImagineError, Refused, describe
from bot.text import N_
from cogs.i18n import Locale, say, tr
from cogs.render import NO_MENTIONS, nothing_charged

log = logging.getLogger(__name__)

# Refusals only Discord can cause (the sentences of the bot's own refusals are in bot.errors).
IMAGE_GONE = N_("That image is no longer attached to the message.")
# Discord's permission names as members see them in the server settings.
PERMISSIONS = {
    "administrator": N_("Administrator"),
    "manage_guild": N_("Manage Server"),
}


def user_message(error: BaseException, locale: Locale = None) -> str:
    """The member-facing sentence for any error, in ``locale`` (English without one)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, ImagineError):
        text = say(locale, error.user_phrase)
        if isinstance(error, Refused):
            return text
        return nothing_charged(text, locale, english=error.user_message)
    if isinstance(error, app_commands.NoPrivateMessage):
        return tr(locale, "This command works in a server, not in direct messages.")
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(
            tr(locale, PERMISSIONS[p])
            if p in PERMISSIONS
            else p.replace("_", " ").replace("guild", "server").title()
            for p in error.missing_permissions
        )
        return tr(
            locale,
            "You need the {permission} permission to do that here. Nothing was changed.",
            permission=needed,
        )
    if isinstance(error, app_commands.CheckFailure):
        return tr(locale, "You don't have permission to do that here.")
    if isinstance(error, app_commands.CommandOnCooldown):
        return tr(locale, "Slow down: try again in {seconds:.0f} s.", seconds=error.retry_after)
    if isinstance(error, app_commands.TransformerError):
        return tr(locale, "`{value}` is not a valid value for that option.", value=error.value)
    return nothing_charged(tr(locale, UNEXPECTED), locale, english=UNEXPECTED)


def log_error(error: BaseException, where: str) -> None:
    """Details go to the log, at a level that matches how surprising they are."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, ImagineError):
        log.info("%s: %s", where, describe(error))
    elif isinstance(error, app_commands.AppCommandError):
        log.info("%s: %s", where, error)
    else:
        log.error("%s failed", where, exc_info=error)


async def tell(interaction: discord.Interaction, error: BaseException, where: str) -> None:
    """Answer the member with the error, ephemerally, whatever state the interaction is in."""
    log_error(error, where)
    text = user_message(error, interaction.locale)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            # The public "thinking…" placeholder would otherwise stay; the reason is private.
            await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        log.warning("could not tell the member about an error: %s", exc)


async def on_app_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """The command tree's error handler: every command's failure ends up here."""
    name = interaction.command.qualified_name if interaction.command else "command"
    await tell(interaction, error, f"/{name}")
