"""Per-guild state in SQLite: settings, the prompt blocklist, and bans.

Settings are stored as the fields a guild changed, merged over the operator's
defaults when read, so a new default reaches every guild that never overrode it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.models import GuildSettings
from bot.storage.records import Ban, BlockedPhrase


def _overrides(conn: sqlite3.Connection, guild_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT settings FROM guild_settings WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    return json.loads(row[0]) if row else {}


def settings(conn: sqlite3.Connection, guild_id: int, defaults: dict[str, Any]) -> GuildSettings:
    """The guild's settings: its own choices over the operator's defaults."""
    return GuildSettings.model_validate({**defaults, **_overrides(conn, guild_id)})


def change_settings(
    conn: sqlite3.Connection,
    guild_id: int,
    changes: dict[str, Any],
    defaults: dict[str, Any],
    *,
    at: float,
) -> tuple[GuildSettings, GuildSettings]:
    """Apply ``changes`` (validated as a whole); return the settings before and after."""
    stored = _overrides(conn, guild_id)
    before = GuildSettings.model_validate({**defaults, **stored})
    after = GuildSettings.model_validate({**defaults, **stored, **changes})
    merged = {**stored, **after.model_dump(mode="json", include=set(changes))}
    conn.execute(
        "INSERT INTO guild_settings (guild_id, settings, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings, "
        "updated_at = excluded.updated_at",
        (guild_id, json.dumps(merged, sort_keys=True), at),
    )
    return before, after


def blocklist(conn: sqlite3.Connection, guild_id: int) -> list[BlockedPhrase]:
    """Every blocked phrase of the guild, in the order added."""
    rows = conn.execute(
        "SELECT normalized, phrase, added_by, added_at FROM blocklist WHERE guild_id = ? "
        "ORDER BY added_at, normalized",
        (guild_id,),
    ).fetchall()
    return [BlockedPhrase(*row) for row in rows]


def block(
    conn: sqlite3.Connection, guild_id: int, normalized: str, phrase: str, *, by: int, at: float
) -> bool:
    """Add a phrase; False when an equivalent one is already listed."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO blocklist (guild_id, normalized, phrase, added_by, added_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (guild_id, normalized, phrase, by, at),
    )
    return cursor.rowcount == 1


def unblock(conn: sqlite3.Connection, guild_id: int, normalized: str) -> bool:
    """Remove a phrase; False when it was not listed."""
    cursor = conn.execute(
        "DELETE FROM blocklist WHERE guild_id = ? AND normalized = ?", (guild_id, normalized)
    )
    return cursor.rowcount == 1


def ban(
    conn: sqlite3.Connection, guild_id: int, user_id: int, reason: str, *, by: int, at: float
) -> Ban | None:
    """Ban a member (or update the reason); returns the previous ban, if any."""
    previous = ban_of(conn, guild_id, user_id)
    conn.execute(
        "INSERT INTO bans (guild_id, user_id, reason, banned_by, banned_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET reason = excluded.reason, "
        "banned_by = excluded.banned_by, banned_at = excluded.banned_at",
        (guild_id, user_id, reason, by, at),
    )
    return previous


def unban(conn: sqlite3.Connection, guild_id: int, user_id: int) -> Ban | None:
    """Lift a ban; returns it, or None when the member was not banned."""
    previous = ban_of(conn, guild_id, user_id)
    conn.execute("DELETE FROM bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return previous


def ban_of(conn: sqlite3.Connection, guild_id: int, user_id: int) -> Ban | None:
    """The member's ban in this guild, if any."""
    row = conn.execute(
        "SELECT user_id, reason, banned_by, banned_at FROM bans WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    ).fetchone()
    return Ban(*row) if row else None


def bans(conn: sqlite3.Connection, guild_id: int) -> list[Ban]:
    """Every ban in the guild."""
    rows = conn.execute(
        "SELECT user_id, reason, banned_by, banned_at FROM bans WHERE guild_id = ? "
        "ORDER BY banned_at",
        (guild_id,),
    ).fetchall()
    return [Ban(*row) for row in rows]
