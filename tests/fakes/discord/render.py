"""JSON objects as Discord sends them: users, members, channels, guilds, messages, interactions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .models import (
    ATTACHMENT_SPOILER,
    EPHEMERAL,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
)

if TYPE_CHECKING:
    from .server import FakeDiscord


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def user_json(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": None if bot else name,
        "discriminator": "0",
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "bot": bot,
        "primary_guild": None,
        "avatar_decoration_data": None,
        "collectibles": None,
    }


def member_json(
    guild: FakeGuild, member: FakeMember, joined: float, *, permissions: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user": user_json(member.user_id, member.name, bot=member.bot),
        "roles": [str(r) for r in member.roles],
        "joined_at": iso(joined),
        "nick": None,
        "avatar": None,
        "banner": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions:
        data["permissions"] = str(guild.permissions_of(member.user_id))
    return data


def role_json(role: FakeRole) -> dict[str, Any]:
    """A role object as Discord sends it (in GUILD_CREATE and resolved options)."""
    return {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }


def channel_json(channel: FakeChannel, *, permissions: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild.id),
        "name": channel.name,
        "position": channel.position,
        "nsfw": channel.nsfw,
        "flags": 0,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "permission_overwrites": [],
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def guild_create_json(fake: FakeDiscord, guild: FakeGuild, *, all_members: bool) -> dict[str, Any]:
    members = [m for m in guild.members.values() if all_members or m.user_id == fake.bot_user_id]
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "unavailable": False,
        "large": False,
        "member_count": len(guild.members),
        "joined_at": iso(fake.started_at),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "features": [],
        "roles": [role_json(r) for r in guild.roles.values()],
        "channels": [channel_json(c) for c in guild.channels.values()],
        "threads": [],
        "members": [member_json(guild, m, fake.started_at) for m in members],
        "emojis": [],
        "stickers": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def attachment_json(attachment: FakeAttachment) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(attachment.id),
        "filename": attachment.filename,
        "size": attachment.size,
        "url": attachment.url,
        "proxy_url": attachment.url,
        "content_type": attachment.content_type,
        "flags": ATTACHMENT_SPOILER if attachment.spoiler else 0,
    }
    if attachment.description is not None:
        data["description"] = attachment.description
    if attachment.ephemeral:
        data["ephemeral"] = True
    return data


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _embed_json(embed: dict[str, Any], files: dict[str, FakeAttachment]) -> dict[str, Any]:
    data = _strip(embed)
    data.setdefault("type", "rich")
    data.pop("flags", None)
    for key in ("image", "thumbnail"):
        media = data.get(key)
        url = media.get("url", "") if isinstance(media, dict) else ""
        if url.startswith("attachment://") and url[13:] in files:
            media["url"] = media["proxy_url"] = files[url[13:]].url
    return data


def _components_json(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counter = 0

    def number(node: dict[str, Any]) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        out = {**_strip(node), "id": node.get("id") or counter}
        if "components" in node:
            out["components"] = [number(c) for c in node["components"]]
        return out

    return [number(c) for c in components]


def message_json(fake: FakeDiscord, msg: FakeMessage, *, nested: bool = False) -> dict[str, Any]:
    author = fake.user_json(msg.author_id)
    files = {a.filename: a for a in msg.attachments}
    data: dict[str, Any] = {
        "id": str(msg.id),
        "type": msg.type,
        "channel_id": str(msg.channel_id),
        "author": author,
        "content": msg.content,
        "timestamp": iso(msg.created_at),
        "edited_timestamp": iso(msg.edited_at) if msg.edited_at else None,
        "tts": msg.tts,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": [
            {**attachment_json(a), **({"ephemeral": True} if msg.ephemeral else {})}
            for a in msg.attachments
        ],
        "embeds": [_embed_json(e, files) for e in msg.embeds],
        "components": _components_json(msg.components),
        "reactions": [],
        "pinned": False,
        "flags": msg.flags,
    }
    if msg.nonce is not None:
        data["nonce"] = msg.nonce
    if msg.webhook_id is not None:
        data["webhook_id"] = str(msg.webhook_id)
        data["application_id"] = str(fake.application_id)
    if msg.interaction is not None:
        data["interaction_metadata"] = interaction_metadata(fake, msg.interaction, msg)
    if msg.message_reference is not None:
        data["message_reference"] = msg.message_reference
        target = fake.find_message(int(msg.message_reference["message_id"]))
        if not nested:
            live = target is not None and not target.deleted
            data["referenced_message"] = message_json(fake, target, nested=True) if live else None
    return data


def interaction_metadata(fake: FakeDiscord, inter: FakeInteraction, msg: FakeMessage) -> dict:
    data: dict[str, Any] = {
        "id": str(inter.id),
        "type": inter.type,
        "user": fake.user_json(inter.user_id),
        "authorizing_integration_owners": {"0": str(inter.guild.id)},
    }
    if inter.original is not None and msg is not inter.original:
        data["original_response_message_id"] = str(inter.original.id)
    if inter.message is not None:
        data["interacted_message_id"] = str(inter.message.id)
    return data


def interaction_create_json(fake: FakeDiscord, inter: FakeInteraction, data: dict) -> dict:
    guild, channel = inter.guild, inter.channel
    member = guild.members[inter.user_id]
    user_permissions = guild.permissions_of(inter.user_id)
    payload: dict[str, Any] = {
        "id": str(inter.id),
        "application_id": str(fake.application_id),
        "type": inter.type,
        "token": inter.token,
        "version": 1,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
        "guild_locale": "en-US",
        "channel_id": str(channel.id),
        "channel": channel_json(channel, permissions=user_permissions),
        "member": member_json(guild, member, fake.started_at, permissions=True),
        "app_permissions": str(guild.permissions_of(fake.bot_user_id)),
        "locale": inter.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": guild.attachment_size_limit,
        "data": data,
    }
    if inter.message is not None:
        payload["message"] = message_json(fake, inter.message)
    return payload


def callback_json(
    fake: FakeDiscord, inter: FakeInteraction, message: FakeMessage | None
) -> dict[str, Any]:
    """The ``?with_response=1`` answer of an accepted callback."""
    info: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
    if inter.response_type in (4, 5, 7) and message is not None:
        info["response_message_id"] = str(message.id)
        info["response_message_loading"] = inter.response_type == 5
        info["response_message_ephemeral"] = bool(message.flags & EPHEMERAL)
    answer: dict[str, Any] = {"interaction": info}
    if inter.response_type in (4, 7) and message is not None:
        answer["resource"] = {"type": inter.response_type, "message": message_json(fake, message)}
    return answer
