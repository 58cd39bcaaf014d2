"""Per-guild state in PostgreSQL: settings, the prompt blocklist, and bans.

Settings are stored as the fields a guild changed, merged over the operator's defaults
when read. A change of settings holds the guild's row lock from read to write, so two
staff members (in any process) changing different fields at once both keep their change.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from bot.models import GuildSettings
from bot.storage.postgres.locks import for_update
from bot.storage.records import Ban, BlockedPhrase


async def _overrides(conn: asyncpg.Connection, guild_id: int, *, lock: bool = False) -> dict:
    suffix = for_update() if lock else ""
    text = await conn.fetchval(
        f"SELECT settings FROM guild_settings WHERE guild_id = $1{suffix}", guild_id
    )
    return json.loads(text) if text else {}


async def settings(
    conn: asyncpg.Connection, guild_id: int, defaults: dict[str, Any]
) -> GuildSettings:
    """The guild's settings: its own choices over the operator's defaults."""
    return GuildSettings.model_validate({**defaults, **await _overrides(conn, guild_id)})


async def change_settings(
    conn: asyncpg.Connection,
    guild_id: int,
    changes: dict[str, Any],
    defaults: dict[str, Any],
    *,
    at: float,
) -> tuple[GuildSettings, GuildSettings]:
    """Apply ``changes`` (validated as a whole); return the settings before and after."""
    await conn.execute(
        "INSERT INTO guild_settings (guild_id, settings, updated_at) VALUES ($1, '{}', $2)"
        " ON CONFLICT (guild_id) DO NOTHING",
        guild_id,
        float(at),
    )
    stored = await _overrides(conn, guild_id, lock=True)
    before = GuildSettings.model_validate({**defaults, **stored})
    after = GuildSettings.model_validate({**defaults, **stored, **changes})
    merged = {**stored, **after.model_dump(mode="json", include=set(changes))}
    await conn.execute(
        "UPDATE guild_settings SET settings = $2, updated_at = $3 WHERE guild_id = $1",
        guild_id,
        json.dumps(merged, sort_keys=True),
        float(at),
    )
    return before, after


async def blocklist(conn: asyncpg.Connection, guild_id: int) -> list[BlockedPhrase]:
    """Every blocked phrase of the guild, in the order added."""
    rows = await conn.fetch(
        "SELECT normalized, phrase, added_by, added_at FROM blocklist WHERE guild_id = $1"
        " ORDER BY added_at, normalized",
        guild_id,
    )
    return [BlockedPhrase(*row) for row in rows]


async def block(
    conn: asyncpg.Connection, guild_id: int, normalized: str, phrase: str, *, by: int, at: float
) -> bool:
    """Add a phrase; False when an equivalent one is already listed."""
    status = await conn.execute(
        "INSERT INTO blocklist (guild_id, normalized, phrase, added_by, added_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        guild_id,
        normalized,
        phrase,
        by,
        float(at),
    )
    return bool(status == "INSERT 0 1")


async def unblock(conn: asyncpg.Connection, guild_id: int, normalized: str) -> bool:
    """Remove a phrase; False when it was not listed."""
    status = await conn.execute(
        "DELETE FROM blocklist WHERE guild_id = $1 AND normalized = $2", guild_id, normalized
    )
    return bool(status == "DELETE 1")


async def ban(
    conn: asyncpg.Connection, guild_id: int, user_id: int, reason: str, *, by: int, at: float
) -> Ban | None:
    """Ban a member (or update the reason); returns the previous ban, if any."""
    previous = await ban_of(conn, guild_id, user_id, lock=True)
    await conn.execute(
        "INSERT INTO bans (guild_id, user_id, reason, banned_by, banned_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
        " reason = excluded.reason, banned_by = excluded.banned_by,"
        " banned_at = excluded.banned_at",
        guild_id,
        user_id,
        reason,
        by,
        float(at),
    )
    return previous


async def unban(conn: asyncpg.Connection, guild_id: int, user_id: int) -> Ban | None:
    """Lift a ban; returns it, or None when the member was not banned."""
    row = await conn.fetchrow(
        "DELETE FROM bans WHERE guild_id = $1 AND user_id = $2"
        " RETURNING user_id, reason, banned_by, banned_at",
        guild_id,
        user_id,
    )
    return Ban(*row) if row else None


async def ban_of(
    conn: asyncpg.Connection, guild_id: int, user_id: int, *, lock: bool = False
) -> Ban | None:
    """The member's ban in this guild, if any."""
    row = await conn.fetchrow(
        "SELECT user_id, reason, banned_by, banned_at FROM bans WHERE guild_id = $1"
        f" AND user_id = $2{for_update() if lock else ''}",
        guild_id,
        user_id,
    )
    return Ban(*row) if row else None


async def bans(conn: asyncpg.Connection, guild_id: int) -> list[Ban]:
    """Every ban in the guild."""
    rows = await conn.fetch(
        "SELECT user_id, reason, banned_by, banned_at FROM bans WHERE guild_id = $1"
        " ORDER BY banned_at",
        guild_id,
    )
    return [Ban(*row) for row in rows]
