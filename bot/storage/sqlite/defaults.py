"""Saved /imagine defaults: one JSON document per member of a guild and per channel."""

from __future__ import annotations

import sqlite3

from bot.models import Defaults


def get(conn: sqlite3.Connection, guild_id: int, scope: str, target_id: int) -> Defaults:
    """The saved defaults, or none set."""
    row = conn.execute(
        "SELECT defaults FROM saved_defaults WHERE guild_id = ? AND scope = ? AND target_id = ?",
        (guild_id, scope, target_id),
    ).fetchone()
    return Defaults.model_validate_json(row[0]) if row else Defaults()


def put(
    conn: sqlite3.Connection,
    guild_id: int,
    scope: str,
    target_id: int,
    defaults: Defaults,
    *,
    at: float,
) -> None:
    """Store or replace; defaults with nothing set remove the row."""
    if not defaults.set_fields():
        conn.execute(
            "DELETE FROM saved_defaults WHERE guild_id = ? AND scope = ? AND target_id = ?",
            (guild_id, scope, target_id),
        )
        return
    conn.execute(
        "INSERT INTO saved_defaults (guild_id, scope, target_id, defaults, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET "
        "defaults = excluded.defaults, updated_at = excluded.updated_at",
        (guild_id, scope, target_id, defaults.model_dump_json(exclude_none=True), at),
    )
