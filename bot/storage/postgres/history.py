"""A member's past jobs, a page at a time (/history)."""

from __future__ import annotations

import asyncpg

from bot.jobs import Job
from bot.storage.rows import JOB_COLUMNS, job_from_row


async def page(
    conn: asyncpg.Connection, guild_id: int, user_id: int, *, offset: int, limit: int
) -> tuple[list[Job], int]:
    """Jobs ``offset`` … ``offset + limit`` of a member in a guild, newest first, and the total."""
    total = await conn.fetchval(
        "SELECT COUNT(*) FROM jobs WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
    )
    rows = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE guild_id = $1 AND user_id = $2"
        " ORDER BY id DESC LIMIT $3 OFFSET $4",
        guild_id,
        user_id,
        limit,
        offset,
    )
    return [job_from_row(tuple(row)) for row in rows], int(total)
