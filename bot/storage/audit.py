"""The moderation audit log: who changed what in a guild, with before and after."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    """One change made by a moderator or admin."""

    id: int
    guild_id: int
    actor_id: int
    action: str
    before: Any
    after: Any
    at: float


def record(
    conn: sqlite3.Connection,
    guild_id: int,
    actor_id: int,
    action: str,
    *,
    before: Any,
    after: Any,
    at: float,
) -> None:
    """Append one change; values are stored as JSON."""
    conn.execute(
        "INSERT INTO audit_log (guild_id, actor_id, action, before, after, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            actor_id,
            action,
            json.dumps(before, sort_keys=True, default=str),
            json.dumps(after, sort_keys=True, default=str),
            at,
        ),
    )


def recent(conn: sqlite3.Connection, guild_id: int, *, limit: int = 50) -> list[AuditEntry]:
    """The guild's latest changes, newest first (never another guild's)."""
    rows = conn.execute(
        "SELECT id, guild_id, actor_id, action, before, after, at FROM audit_log "
        "WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
        (guild_id, limit),
    ).fetchall()
    return [
        AuditEntry(i, g, a, act, json.loads(b) if b else None, json.loads(af) if af else None, at)
        for i, g, a, act, b, af, at in rows
    ]
