"""The credit ledger in PostgreSQL (see ``bot.storage.sqlite.ledger`` for the accounts).

Several processes write here at once, so every change to a member's accounts first takes
that member's transaction-scoped advisory lock (``locks.advisory`` on a key of the guild
and the member) and only then reads the balances it will change: reads followed by writes are
serialised per member across every process, and released at commit or rollback. The
``no_overdraft`` CHECK on ``balances`` is the last word: each decrease is an UPDATE of the
row, evaluated on its newest version, so even a writer that skipped the lock could not take
an account below zero. Movement numbers come from an identity, never from MAX(id) + 1.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import asyncpg

from bot.storage.postgres.locks import advisory
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
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
)
_ADD = (
    "INSERT INTO balances (guild_id, user_id, account, bucket, amount) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (guild_id, user_id, account, bucket)"
    " DO UPDATE SET amount = balances.amount + excluded.amount"
)
_TAKE = (
    "UPDATE balances SET amount = amount + $1"
    " WHERE guild_id = $2 AND user_id = $3 AND account = $4 AND bucket = $5"
)
LEG_COLUMNS = (
    "movement, at, day, user_id, kind, account, amount, job_id, provider, images, actor_id, note"
)


def member_key(guild_id: int, user_id: int) -> int:
    """The advisory lock key of a member's accounts (64 bits of a hash, namespaced)."""
    digest = hashlib.blake2b(f"imagine-bot:ledger:{guild_id}:{user_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


async def _lock(conn: asyncpg.Connection, guild_id: int, user_id: int) -> None:
    await advisory(conn, member_key(guild_id, user_id))


async def _write(
    conn: asyncpg.Connection, guild_id: int, user_id: int, at: float, moves: Sequence[Movement]
) -> None:
    """Append the movements' legs and add them to the running balances."""
    day = utc_day(at)
    rows = []
    totals: dict[Key, int] = {}
    for move in moves:
        number = await conn.fetchval("INSERT INTO ledger_movements DEFAULT VALUES RETURNING id")
        head = (number, float(at), day, guild_id, user_id)
        tail = (move.kind, move.job_id, move.provider, move.images, move.actor_id, move.note)
        for account, bucket, amount in compact(move.legs):
            rows.append((*head, account, bucket, amount, *tail))
            totals[account, bucket] = totals.get((account, bucket), 0) + amount
    await conn.executemany(_INSERT, rows)
    adds = []
    for (account, bucket), amount in totals.items():
        if amount > 0 or (amount < 0 and account in SIGNED):
            adds.append((guild_id, user_id, account, bucket, amount))
        elif amount < 0:
            status = await conn.execute(_TAKE, amount, guild_id, user_id, account, bucket)
            if status != "UPDATE 1":
                raise ValueError(f"a movement draws on an empty account: {account}[{bucket}]")
    if adds:
        await conn.executemany(_ADD, adds)


async def _accounts(
    conn: asyncpg.Connection, guild_id: int, user_id: int, day: str
) -> dict[Key, int]:
    """The member's balances that matter today (absent ones are zero)."""
    rows = await conn.fetch(
        "SELECT account, bucket, amount FROM balances WHERE guild_id = $1 AND user_id = $2"
        " AND bucket IN ($3, '')",
        guild_id,
        user_id,
        day,
    )
    return {(account, bucket): amount for account, bucket, amount in rows}


async def balance(
    conn: asyncpg.Connection, *, guild_id: int, user_id: int, at: float, allowance: int
) -> Balance:
    """The member's balance now; issues today's allowance first (a write, under the lock)."""
    day = utc_day(at)
    await _lock(conn, guild_id, user_id)
    accounts = await _accounts(conn, guild_id, user_id, day)
    issue = top_up(accounts, day, allowance)
    if issue:
        await _write(conn, guild_id, user_id, at, [allowance_move(day, issue)])
        for key, amount in ((("issued", day), -issue), (("allowance", day), issue)):
            accounts[key] = accounts.get(key, 0) + amount
    return balance_of(accounts, day, at, allowance)


async def hold(
    conn: asyncpg.Connection,
    *,
    guild_id: int,
    user_id: int,
    job_id: int,
    amount: int,
    at: float,
    allowance: int,
) -> Balance:
    """Set a job's full price aside (see ``bot.storage.sqlite.ledger.hold``)."""
    await _lock(conn, guild_id, user_id)
    if await conn.fetchval("SELECT 1 FROM ledger WHERE job_id = $1 LIMIT 1", job_id):
        raise ValueError(f"job {job_id} already has a hold")
    accounts = await _accounts(conn, guild_id, user_id, utc_day(at))
    moves, after = plan_hold(accounts, job_id=job_id, amount=amount, at=at, allowance=allowance)
    await _write(conn, guild_id, user_id, at, moves)
    return after


async def _open(conn: asyncpg.Connection, job_id: int) -> OpenHold | None:
    """The job's hold if it is still open: None when there is none or it was settled/released."""
    rows = await conn.fetch(
        "SELECT guild_id, user_id, account, bucket, amount, kind FROM ledger WHERE job_id = $1"
        " ORDER BY id",
        job_id,
    )
    return open_hold_of([tuple(row) for row in rows])


async def _open_locked(conn: asyncpg.Connection, job_id: int) -> OpenHold | None:
    """The job's open hold, read again once its member's lock is held."""
    seen = await _open(conn, job_id)
    if seen is None:
        return None
    await _lock(conn, seen.guild_id, seen.user_id)
    return await _open(conn, job_id)


async def open_hold(conn: asyncpg.Connection, job_id: int) -> int:
    """Credits still held for a job (0 once it was settled or released, or never held)."""
    state = await _open(conn, job_id)
    return state.open if state else 0


async def settle(
    conn: asyncpg.Connection,
    *,
    job_id: int,
    charge: int,
    provider: str | None,
    images: int,
    at: float,
) -> int:
    """Charge a delivered job and give back the rest of its hold; exactly once."""
    if charge < 0 or images < 0:
        raise ValueError(f"charge and images cannot be negative ({charge}, {images})")
    state = await _open_locked(conn, job_id)
    if state is None:
        log.info("job %d has no open hold; nothing to settle", job_id)
        return 0
    move, charge = settle_move(
        state, job_id=job_id, charge=charge, provider=provider, images=images, at=at
    )
    await _write(conn, state.guild_id, state.user_id, at, [move])
    return charge


async def release(conn: asyncpg.Connection, *, job_id: int, at: float) -> int:
    """Give a job's whole hold back; exactly once, like ``settle``."""
    state = await _open_locked(conn, job_id)
    if state is None:
        log.info("job %d has no open hold; nothing to release", job_id)
        return 0
    await _write(conn, state.guild_id, state.user_id, at, [release_move(state, job_id=job_id)])
    return state.open


async def grant(
    conn: asyncpg.Connection,
    *,
    guild_id: int,
    user_id: int,
    amount: int,
    actor_id: int,
    note: str | None,
    at: float,
) -> int:
    """An admin gives credits (or takes granted ones back, never below zero); the change."""
    await _lock(conn, guild_id, user_id)
    if amount < 0:
        granted = await conn.fetchval(
            "SELECT amount FROM balances WHERE guild_id = $1 AND user_id = $2"
            " AND account = 'granted' AND bucket = ''",
            guild_id,
            user_id,
        )
        amount = -min(-amount, granted or 0)
    if amount == 0:
        return 0
    move = Movement(
        "grant", [("issued", "", -amount), ("granted", "", amount)], actor_id=actor_id, note=note
    )
    await _write(conn, guild_id, user_id, at, [move])
    return amount


async def reconcile(conn: asyncpg.Connection) -> list[str]:
    """Every inconsistency in the ledger, one sentence each; empty when all adds up."""
    problems = []
    summed = {
        tuple(row[:4]): row[4]
        for row in await conn.fetch(
            "SELECT guild_id, user_id, account, bucket, SUM(amount)::bigint FROM ledger"
            " GROUP BY guild_id, user_id, account, bucket"
        )
    }
    stored = {
        tuple(row[:4]): row[4]
        for row in await conn.fetch(
            "SELECT guild_id, user_id, account, bucket, amount FROM balances"
        )
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
    for movement, total, legs, members in await conn.fetch(
        "SELECT movement, SUM(amount)::bigint, COUNT(*), COUNT(DISTINCT (guild_id, user_id))"
        " FROM ledger GROUP BY movement"
        " HAVING SUM(amount) != 0 OR COUNT(*) < 2 OR COUNT(DISTINCT (guild_id, user_id)) > 1"
        " ORDER BY movement"
    ):
        problems.append(
            f"movement {movement}: {legs} leg(s) over {members} member(s) summing to {total}"
        )
    return problems
