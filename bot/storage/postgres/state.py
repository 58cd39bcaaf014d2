"""Small facts the bot remembers about itself between runs (key → text)."""

from __future__ import annotations

import asyncpg


async def get(conn: asyncpg.Connection, key: str) -> str | None:
    """The stored value, or None."""
    value: str | None = await conn.fetchval("SELECT value FROM bot_state WHERE key = $1", key)
    return value


async def put(conn: asyncpg.Connection, key: str, value: str, *, at: float) -> None:
    """Store or replace a value."""
    await conn.execute(
        "INSERT INTO bot_state (key, value, updated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        key,
        value,
        float(at),
    )
