"""Who may do what, checked at run time (Discord's own permission settings are only a hint)."""

from __future__ import annotations

import discord

from bot.models import GuildSettings


def is_moderator(interaction: discord.Interaction, settings: GuildSettings) -> bool:
    """Manage Server, Administrator, or the guild's moderator role."""
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    role_id = settings.moderator_role_id
    member = interaction.user
    return (
        role_id is not None
        and isinstance(member, discord.Member)
        and any(role.id == role_id for role in member.roles)
    )
