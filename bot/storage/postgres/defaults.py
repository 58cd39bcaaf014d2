"""Saved /imagine defaults: one JSON document per member of a guild and per channel."""

from __future__ import annotations

import asyncpg

from bot.models import Defaults


async def get(conn: asyncpg.Connection, guild_id: int, scope: str, target_id: int) -> Defaults:
    """The saved defaults, or none set."""
    text = await conn.fetchval(
        "SELECT defaults FROM saved_defaults WHERE guild_id = $1 AND scope = $2 AND target_id = $3",
        guild_id,
        scope,
        target_id,
    )
    return Defaults.model_validate_json(text) if text is not None else Defaults()


async def put(
    conn: asyncpg.Connection,
    guild_id: int,
    scope: str,
    target_id: int,
    defaults: Defaults,
    *,
    at: float,
) -> None:
    """Store or replace; defaults with nothing set remove the row."""
    if not defaults.set_fields():
        await conn.execute(
            "DELETE FROM saved_defaults WHERE guild_id = $1 AND scope = $2 AND target_id = $3",
            guild_id,
            scope,
            target_id,
        )
        return
    await conn.execute(
        "INSERT INTO saved_defaults (guild_id, scope, target_id, defaults, updated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET"
        " defaults = excluded.defaults, updated_at = excluded.updated_at",
        guild_id,
        scope,
        target_id,
        defaults.model_dump_json(exclude_none=True),
        float(at),
    )
