"""What admins read about credits: spend over a period, per member, per provider, per day.

Rows come straight from the ledger, one line per movement as a member or admin reads it.
Legs are read in movement order: identities given to concurrent writers may interleave, but
a movement's legs are always written together under one number.
"""

from __future__ import annotations

import itertools

import asyncpg

from bot.storage.postgres.ledger import LEG_COLUMNS
from bot.storage.records import LedgerEntry, Usage, utc_day
from bot.storage.rules import fold

_SPENT_IN = (
    " FROM ledger WHERE guild_id = $1 AND day BETWEEN $2 AND $3 AND at >= $4 AND at < $5"
    " AND account = 'spent' AND kind = 'settle'"
)


def _args(guild_id: int, since: float, until: float) -> tuple[int, str, str, float, float]:
    return guild_id, utc_day(since), utc_day(until), float(since), float(until)


async def usage(
    conn: asyncpg.Connection, guild_id: int, *, since: float, until: float, top: int = 10
) -> Usage:
    """What the guild's members spent from ``since`` (inclusive) to ``until`` (exclusive)."""
    args = _args(guild_id, since, until)
    credits, images, jobs = await conn.fetchrow(
        "SELECT COALESCE(SUM(amount), 0)::bigint, COALESCE(SUM(images), 0)::bigint, COUNT(*)"
        f"{_SPENT_IN}",
        *args,
    )
    top_users = await conn.fetch(
        f"SELECT user_id, SUM(amount)::bigint, SUM(images)::bigint{_SPENT_IN}"
        " GROUP BY user_id ORDER BY SUM(amount) DESC, user_id LIMIT $6",
        *args,
        top,
    )
    providers = await conn.fetch(
        f"SELECT provider, SUM(amount)::bigint, SUM(images)::bigint{_SPENT_IN}"
        " GROUP BY provider ORDER BY SUM(amount) DESC, provider",
        *args,
    )
    return Usage(
        credits, images, jobs, [tuple(row) for row in top_users], [tuple(row) for row in providers]
    )


async def spend_by_day(
    conn: asyncpg.Connection, guild_id: int, *, since: float, until: float
) -> list[tuple[str, str, int, int]]:
    """(day, provider, credits, images) per UTC day and provider, oldest day first."""
    rows = await conn.fetch(
        f"SELECT day, provider, SUM(amount)::bigint, SUM(images)::bigint{_SPENT_IN}"
        " GROUP BY day, provider ORDER BY day, provider",
        *_args(guild_id, since, until),
    )
    return [tuple(row) for row in rows]


async def user_history(
    conn: asyncpg.Connection, guild_id: int, user_id: int, *, limit: int = 50
) -> list[LedgerEntry]:
    """A member's last ``limit`` movements in a guild, newest first (see ``LedgerEntry``)."""
    rows = await conn.fetch(
        f"SELECT {LEG_COLUMNS} FROM ledger WHERE guild_id = $1 AND user_id = $2"
        " AND movement IN (SELECT DISTINCT movement FROM ledger WHERE guild_id = $1"
        " AND user_id = $2 ORDER BY movement DESC LIMIT $3)"
        " ORDER BY movement DESC, id DESC",
        guild_id,
        user_id,
        limit,
    )
    return list(itertools.islice(fold(tuple(row) for row in rows), limit))


async def entries(
    conn: asyncpg.Connection, guild_id: int, *, since: float, until: float
) -> list[LedgerEntry]:
    """Every movement in a guild from ``since`` (inclusive) to ``until`` (exclusive), oldest
    first: one line per movement, for the CSV export."""
    rows = await conn.fetch(
        f"SELECT {LEG_COLUMNS} FROM ledger WHERE guild_id = $1 AND day BETWEEN $2 AND $3"
        " AND at >= $4 AND at < $5 ORDER BY movement, id",
        *_args(guild_id, since, until),
    )
    return list(fold(tuple(row) for row in rows))
