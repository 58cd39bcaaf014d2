"""The credit ledger: every credit a member gets, holds, spends or gets back, per guild.

Each movement is two or more legs (``ledger`` rows) that share a ``movement``
number and sum to zero, and ``balances`` keeps the running sum of every
account in the same transaction. A member's accounts in a guild are:

- ``issued``: where allowances and grants come from (negative; bucket ``YYYY-MM-DD``
  for the allowance issued that day, ``''`` for grants);
- ``allowance``: one bucket per UTC day; only today's counts, older ones expire;
- ``granted``: credits given by admins, which never expire;
- ``held``: credits set aside for queued and running jobs;
- ``spent``: credits charged for delivered images (bucket = the UTC day of the charge).

The available balance is today's allowance plus granted. Every function here is a
plain function of a ``sqlite3.Connection``, meant to run inside ``Database.write``:
it is one atomic change, and changes run one after another, so a read followed by a
write here is never interleaved with another change and a balance cannot go negative.
Time is passed in as a unix timestamp ``at``; days are UTC.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from bot.storage.records import Balance, utc_day
from bot.storage.rules import (
    SIGNED,
    Key,
    Movement,
    OpenHold,
    allowance_move,
    balance_of,
    compact,
    open_hold_of,
    plan_hold,
    release_move,
    settle_move,
    top_up,
)

log = logging.getLogger(__name__)


_INSERT = (
    "INSERT INTO ledger (movement, at, day, guild_id, user_id, account, bucket, amount,"
    " kind, job_id, provider, images, actor_id, note)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT = (
    "INSERT INTO balances (guild_id, user_id, account, bucket, amount) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (guild_id, user_id, account, bucket)"
    " DO UPDATE SET amount = amount + excluded.amount"
)
_TAKE = (
    "UPDATE balances SET amount = amount + ?"
    " WHERE guild_id = ? AND user_id = ? AND account = ? AND bucket = ?"
)
LEG_COLUMNS = (
    "movement, at, day, user_id, kind, account, amount, job_id, provider, images, actor_id, note"
)


def _write(
    conn: sqlite3.Connection, guild_id: int, user_id: int, at: float, moves: Sequence[Movement]
) -> None:
    """Append the movements' legs and add them to the running balances."""
    day = utc_day(at)
    rows = []
    totals: dict[Key, int] = {}
    for move in moves:
        number = conn.execute("INSERT INTO ledger_movements DEFAULT VALUES").lastrowid
        head = (number, at, day, guild_id, user_id)
        tail = (move.kind, move.job_id, move.provider, move.images, move.actor_id, move.note)
        for account, bucket, amount in compact(move.legs):
            rows.append((*head, account, bucket, amount, *tail))
            totals[account, bucket] = totals.get((account, bucket), 0) + amount
    conn.executemany(_INSERT, rows)
    # SQLite checks the CHECK on the row an UPSERT would insert before it sees the
    # conflict, so a decrease of a never-negative account is an UPDATE of its row.
    adds, takes = [], []
    for (account, bucket), amount in totals.items():
        if amount > 0 or (amount < 0 and account in SIGNED):
            adds.append((guild_id, user_id, account, bucket, amount))
        elif amount < 0:
            takes.append((amount, guild_id, user_id, account, bucket))
    if adds:
        conn.executemany(_UPSERT, adds)
    if takes and conn.executemany(_TAKE, takes).rowcount != len(takes):
        raise sqlite3.IntegrityError(f"a movement draws on an empty account: {takes}")


def _accounts(conn: sqlite3.Connection, guild_id: int, user_id: int, day: str) -> dict[Key, int]:
    """The member's balances that matter today (absent ones are zero)."""
    return {
        (account, bucket): amount
        for account, bucket, amount in conn.execute(
            "SELECT account, bucket, amount FROM balances WHERE guild_id = ? AND user_id = ?"
            " AND account IN ('allowance', 'granted', 'held', 'issued', 'spent')"
            " AND bucket IN (?, '')",
            (guild_id, user_id, day),
        )
    }


def balance(
    conn: sqlite3.Connection, *, guild_id: int, user_id: int, at: float, allowance: int
) -> Balance:
    """The member's balance now; issues today's allowance first, so run it in a write."""
    day = utc_day(at)
    accounts = _accounts(conn, guild_id, user_id, day)
    top_up_by = top_up(accounts, day, allowance)
    if top_up_by:
        _write(conn, guild_id, user_id, at, [allowance_move(day, top_up_by)])
        for key, amount in ((("issued", day), -top_up_by), (("allowance", day), top_up_by)):
            accounts[key] = accounts.get(key, 0) + amount
    return balance_of(accounts, day, at, allowance)


def hold(
    conn: sqlite3.Connection,
    *,
    guild_id: int,
    user_id: int,
    job_id: int,
    amount: int,
    at: float,
    allowance: int,
) -> Balance:
    """Set a job's full price aside at enqueue (today's allowance first, then granted).

    Raises ``InsufficientCredits`` and writes nothing when the balance is short, and
    ``ValueError`` when the job already has a hold (one hold per job; a bug otherwise).
    Returns the balance after the hold.
    """
    if conn.execute("SELECT 1 FROM ledger WHERE job_id = ? LIMIT 1", (job_id,)).fetchone():
        raise ValueError(f"job {job_id} already has a hold")
    accounts = _accounts(conn, guild_id, user_id, utc_day(at))
    moves, after = plan_hold(accounts, job_id=job_id, amount=amount, at=at, allowance=allowance)
    _write(conn, guild_id, user_id, at, moves)
    return after


def _open(conn: sqlite3.Connection, job_id: int) -> OpenHold | None:
    """The job's hold if it is still open: None when there is none or it was settled/released."""
    rows = conn.execute(
        "SELECT guild_id, user_id, account, bucket, amount, kind FROM ledger WHERE job_id = ?",
        (job_id,),
    ).fetchall()
    return open_hold_of(rows)


def open_hold(conn: sqlite3.Connection, job_id: int) -> int:
    """Credits still held for a job (0 once it was settled or released, or never held)."""
    state = _open(conn, job_id)
    return state.open if state else 0


def settle(
    conn: sqlite3.Connection, *, job_id: int, charge: int, provider: str, images: int, at: float
) -> int:
    """Charge a delivered job and give back the rest of its hold; the credits charged.

    Exactly once: a job already settled or released (or never held) is left alone and
    0 is returned. A charge above the hold is clamped to it (and logged).
    """
    if charge < 0 or images < 0:
        raise ValueError(f"charge and images cannot be negative ({charge}, {images})")
    state = _open(conn, job_id)
    if state is None:
        log.info("job %d has no open hold; nothing to settle", job_id)
        return 0
    move, charge = settle_move(
        state, job_id=job_id, charge=charge, provider=provider, images=images, at=at
    )
    _write(conn, state.guild_id, state.user_id, at, [move])
    return charge


def release(conn: sqlite3.Connection, *, job_id: int, at: float) -> int:
    """Give a job's whole hold back (failed, moderated, cancelled); the credits returned.

    Exactly once, like ``settle``: a closed or missing hold changes nothing and returns 0.
    Credits drawn from a past day's allowance go back to that bucket, which has expired.
    """
    state = _open(conn, job_id)
    if state is None:
        log.info("job %d has no open hold; nothing to release", job_id)
        return 0
    _write(conn, state.guild_id, state.user_id, at, [release_move(state, job_id=job_id)])
    return state.open


def grant(
    conn: sqlite3.Connection,
    *,
    guild_id: int,
    user_id: int,
    amount: int,
    actor_id: int,
    note: str | None,
    at: float,
) -> int:
    """An admin gives credits (or takes granted ones back with a negative amount); the change.

    Taking back never goes below zero: it is clamped to the member's granted balance.
    """
    if amount < 0:
        row = conn.execute(
            "SELECT amount FROM balances WHERE guild_id = ? AND user_id = ?"
            " AND account = 'granted' AND bucket = ''",
            (guild_id, user_id),
        ).fetchone()
        amount = -min(-amount, row[0] if row else 0)
    if amount == 0:
        return 0
    move = Movement(
        "grant", [("issued", "", -amount), ("granted", "", amount)], actor_id=actor_id, note=note
    )
    _write(conn, guild_id, user_id, at, [move])
    return amount


def reconcile(conn: sqlite3.Connection) -> list[str]:
    """Every inconsistency in the ledger, one sentence each; empty when all adds up."""
    problems = []
    summed = {
        tuple(row[:4]): row[4]
        for row in conn.execute(
            "SELECT guild_id, user_id, account, bucket, SUM(amount) FROM ledger"
            " GROUP BY guild_id, user_id, account, bucket"
        )
    }
    stored = {
        tuple(row[:4]): row[4]
        for row in conn.execute("SELECT guild_id, user_id, account, bucket, amount FROM balances")
    }
    for key in sorted(summed.keys() | stored.keys()):
        want, have = summed.get(key, 0), stored.get(key, 0)
        if want != have:
            guild_id, user_id, account, bucket = key
            where = f"{account}[{bucket}]" if bucket else account
            problems.append(
                f"guild {guild_id} user {user_id} {where}: balances say {have}, "
                f"the ledger sums to {want}"
            )
    for movement, total, legs, members in conn.execute(
        "SELECT movement, SUM(amount), COUNT(*), COUNT(DISTINCT guild_id || ':' || user_id)"
        " FROM ledger GROUP BY movement"
        " HAVING SUM(amount) != 0 OR COUNT(*) < 2 OR COUNT(DISTINCT guild_id || ':' || user_id) > 1"
        " ORDER BY movement"
    ):
        problems.append(
            f"movement {movement}: {legs} leg(s) over {members} member(s) summing to {total}"
        )
    return problems
