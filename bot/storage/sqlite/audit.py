"""The moderation audit log: who changed what in a guild, with before and after."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.storage.records import AuditEntry


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


def page(
    conn: sqlite3.Connection,
    guild_id: int,
    *,
    member: int | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[AuditEntry], int]:
    """One page of the guild's changes, newest first, and how many there are in all.

    With ``member``, only the changes that member made or that were made to them (a ban,
    an unban, a grant).
    """
    where, args = "guild_id = ?", [guild_id]
    if member is not None:
        where += (
            " AND (actor_id = ? OR json_extract(after, '$.user') = ?"
            " OR json_extract(before, '$.user') = ?)"
        )
        args += [member, member, member]
    total = conn.execute(f"SELECT count(*) FROM audit_log WHERE {where}", args).fetchone()[0]
    rows = conn.execute(
        "SELECT id, guild_id, actor_id, action, before, after, at FROM audit_log "
        f"WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    entries = [
        AuditEntry(i, g, a, act, json.loads(b) if b else None, json.loads(af) if af else None, at)
        for i, g, a, act, b, af, at in rows
    ]
    return entries, total
