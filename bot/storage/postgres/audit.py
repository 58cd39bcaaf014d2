"""The moderation audit log: who changed what in a guild, with before and after."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from bot.storage.records import AuditEntry

_FIELDS = "id, guild_id, actor_id, action, before, after, at"


def _entries(rows: list[asyncpg.Record]) -> list[AuditEntry]:
    return [
        AuditEntry(i, g, a, act, json.loads(b) if b else None, json.loads(af) if af else None, at)
        for i, g, a, act, b, af, at in rows
    ]


async def record(
    conn: asyncpg.Connection,
    guild_id: int,
    actor_id: int,
    action: str,
    *,
    before: Any,
    after: Any,
    at: float,
) -> None:
    """Append one change; values are stored as JSON."""
    await conn.execute(
        "INSERT INTO audit_log (guild_id, actor_id, action, before, after, at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        guild_id,
        actor_id,
        action,
        json.dumps(before, sort_keys=True, default=str),
        json.dumps(after, sort_keys=True, default=str),
        float(at),
    )


async def recent(conn: asyncpg.Connection, guild_id: int, *, limit: int = 50) -> list[AuditEntry]:
    """The guild's latest changes, newest first (never another guild's)."""
    rows = await conn.fetch(
        f"SELECT {_FIELDS} FROM audit_log WHERE guild_id = $1 ORDER BY id DESC LIMIT $2",
        guild_id,
        limit,
    )
    return _entries(rows)


async def page(
    conn: asyncpg.Connection,
    guild_id: int,
    *,
    member: int | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[AuditEntry], int]:
    """One page of the guild's changes, newest first, and how many there are in all; with
    ``member``, only those that member made or that were made to them."""
    where, args = "guild_id = $1", [guild_id]
    if member is not None:
        where += (
            " AND (actor_id = $2 OR after::jsonb -> 'user' = to_jsonb($2::bigint)"
            " OR before::jsonb -> 'user' = to_jsonb($2::bigint))"
        )
        args.append(member)
    total = await conn.fetchval(f"SELECT count(*) FROM audit_log WHERE {where}", *args)
    n = len(args)
    rows = await conn.fetch(
        f"SELECT {_FIELDS} FROM audit_log WHERE {where} ORDER BY id DESC"
        f" LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    return _entries(rows), total
