"""The one place errors become what a member reads: short, ephemeral, never a traceback."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.errors import UNEXPECTED, ImagineError, Refused, describe
from cogs.render import NO_MENTIONS, nothing_charged

log = logging.getLogger(__name__)

# Refusals only Discord can cause (the sentences of the bot's own refusals are in bot.errors).
IMAGE_GONE = "That image is no longer attached to the message."


def user_message(error: BaseException) -> str:
    """The member-facing sentence for any error."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, ImagineError):
        text = error.user_message
        return text if isinstance(error, Refused) else nothing_charged(text)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server, not in direct messages."
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(
            p.replace("_", " ").replace("guild", "server").title()
            for p in error.missing_permissions
        )
        return f"You need the {needed} permission to do that here. Nothing was changed."
    if isinstance(error, app_commands.CheckFailure):
        return "You don't have permission to do that here."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.TransformerError):
        return f"`{error.value}` is not a valid value for that option."
    return nothing_charged(UNEXPECTED)


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
    text = user_message(error)
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
