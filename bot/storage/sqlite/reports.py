"""What admins read about credits: spend over a period, per member, per provider, per day.

Rows come straight from the ledger (``bot.storage.sqlite.ledger``), one line per movement
as a member or admin reads it, ready to render in Discord or write to CSV.
"""

from __future__ import annotations

import itertools
import sqlite3

from bot.storage.records import LedgerEntry, Usage, utc_day
from bot.storage.rules import fold
from bot.storage.sqlite.ledger import LEG_COLUMNS


def _day_range(since: float, until: float) -> tuple[str, str]:
    return utc_day(since), utc_day(until)


_SPENT_IN = (
    " FROM ledger WHERE guild_id = ? AND day BETWEEN ? AND ? AND at >= ? AND at < ?"
    " AND account = 'spent' AND kind = 'settle'"
)


def usage(
    conn: sqlite3.Connection, guild_id: int, *, since: float, until: float, top: int = 10
) -> Usage:
    """What the guild's members spent from ``since`` (inclusive) to ``until`` (exclusive)."""
    args = (guild_id, *_day_range(since, until), since, until)
    credits, images, jobs = conn.execute(
        f"SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(images), 0), COUNT(*){_SPENT_IN}", args
    ).fetchone()
    top_users = conn.execute(
        f"SELECT user_id, SUM(amount), SUM(images){_SPENT_IN}"
        " GROUP BY user_id ORDER BY SUM(amount) DESC, user_id LIMIT ?",
        (*args, top),
    ).fetchall()
    providers = conn.execute(
        f"SELECT provider, SUM(amount), SUM(images){_SPENT_IN}"
        " GROUP BY provider ORDER BY SUM(amount) DESC, provider",
        args,
    ).fetchall()
    return Usage(credits, images, jobs, top_users, providers)


def spend_by_day(
    conn: sqlite3.Connection, guild_id: int, *, since: float, until: float
) -> list[tuple[str, str, int, int]]:
    """(day, provider, credits, images) per UTC day and provider, oldest day first.

    ``since`` is inclusive and ``until`` exclusive, on the time of each charge.
    """
    args = (guild_id, *_day_range(since, until), since, until)
    return conn.execute(
        f"SELECT day, provider, SUM(amount), SUM(images){_SPENT_IN}"
        " GROUP BY day, provider ORDER BY day, provider",
        args,
    ).fetchall()


def user_history(
    conn: sqlite3.Connection, guild_id: int, user_id: int, *, limit: int = 50
) -> list[LedgerEntry]:
    """A member's last ``limit`` movements in a guild, newest first (see ``LedgerEntry``)."""
    rows = conn.execute(
        f"SELECT {LEG_COLUMNS} FROM ledger WHERE guild_id = ? AND user_id = ? ORDER BY id DESC",
        (guild_id, user_id),
    )
    return list(itertools.islice(fold(rows), limit))


def entries(
    conn: sqlite3.Connection, guild_id: int, *, since: float, until: float
) -> list[LedgerEntry]:
    """Every movement in a guild from ``since`` (inclusive) to ``until`` (exclusive), oldest
    first: one line per movement as in ``LedgerEntry``, for the CSV export."""
    rows = conn.execute(
        f"SELECT {LEG_COLUMNS} FROM ledger WHERE guild_id = ? AND day BETWEEN ? AND ?"
        " AND at >= ? AND at < ? ORDER BY id",
        (guild_id, *_day_range(since, until), since, until),
    )
    return list(fold(rows))
