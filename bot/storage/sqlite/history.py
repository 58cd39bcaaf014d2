"""A member's past jobs, a page at a time (/history)."""

from __future__ import annotations

import sqlite3

from bot.jobs import Job
from bot.storage.rows import JOB_COLUMNS, job_from_row


def page(
    conn: sqlite3.Connection, guild_id: int, user_id: int, *, offset: int, limit: int
) -> tuple[list[Job], int]:
    """Jobs ``offset`` … ``offset + limit`` of a member in a guild, newest first, and the total."""
    total = conn.execute(
        "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ).fetchone()[0]
    rows = conn.execute(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE guild_id = ? AND user_id = ? "
        "ORDER BY id DESC LIMIT ? OFFSET ?",
        (guild_id, user_id, limit, offset),
    ).fetchall()
    return [job_from_row(row) for row in rows], int(total)
