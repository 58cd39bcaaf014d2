"""Moving a single server's SQLite database into an empty PostgreSQL database.

The SQLite file is brought up to date first (its own migrations), under its instance lock,
so the bot cannot be writing to it meanwhile. Every table is copied in one PostgreSQL
transaction, ids and movement numbers kept, and the identities are set to go on after
them. The copy is checked before it commits: the same number of rows in every table, and a
ledger that reconciles with the same balances. A database that already holds data is
refused: the copy never merges two servers' ledgers.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.storage.interface import StorageError
from bot.storage.postgres import ledger
from bot.storage.postgres.store import PostgresStore, redact
from bot.storage.sqlite.lock import instance_lock
from bot.storage.sqlite.store import SqliteStore

# Parents before children (jobs before their images and tasks).
TABLES = (
    "guild_settings",
    "jobs",
    "job_images",
    "ledger_movements",
    "ledger",
    "balances",
    "blocklist",
    "bans",
    "audit_log",
    "bot_state",
    "saved_defaults",
    "provider_tasks",
)
IDENTITIES = ("jobs", "ledger_movements", "ledger", "audit_log", "provider_tasks")


@dataclass(frozen=True)
class Copied:
    """What the copy moved."""

    rows: dict[str, int]
    members: int
    seconds: float


def _coerce(kind: str, value: Any) -> Any:
    """A SQLite value as the PostgreSQL column's type wants it."""
    if value is None:
        return None
    if kind == "boolean":
        return bool(value)
    if kind == "double precision":
        return float(value)
    if kind in ("bigint", "integer"):
        return int(value)
    if kind == "bytea":
        return bytes(value)
    return str(value)


async def _columns(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {name: kind for name, kind in rows}


async def _refuse_non_empty(conn: asyncpg.Connection, where: str) -> None:
    for table in TABLES:
        await conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
    held = {t: n for t, n in counts.items() if n}
    if held:
        listed = ", ".join(f"{n} {t}" for t, n in held.items())
        raise StorageError(
            f"DATABASE_URL={where} already holds data ({listed}): copy-db only fills an empty "
            "database; create a new one (createdb) and point DATABASE_URL at it"
        )


async def _copy_table(conn: asyncpg.Connection, source: sqlite3.Connection, table: str) -> int:
    target = await _columns(conn, table)
    have = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    names = [name for name in have if name in target]
    rows = source.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
    kinds = [target[name] for name in names]
    records = [tuple(_coerce(k, v) for k, v in zip(kinds, row, strict=True)) for row in rows]
    if records:
        await conn.copy_records_to_table(table, records=records, columns=names)
    return len(records)


async def copy_database(sqlite_path: Path, url: str) -> Copied:
    """Copy the SQLite database at ``sqlite_path`` (an existing file: the caller checks)
    into the empty database at ``url``."""
    started = time.monotonic()
    where = redact(url)
    with instance_lock(sqlite_path):
        await (await SqliteStore.open(sqlite_path)).close()  # up to date, or a clear refusal
        await (await PostgresStore.open(url)).close()
        with contextlib.closing(sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)) as lite:
            conn = await asyncpg.connect(url)
            try:
                async with conn.transaction():
                    await _refuse_non_empty(conn, where)
                    rows = {t: await _copy_table(conn, lite, t) for t in TABLES}
                    for table in IDENTITIES:
                        await conn.execute(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" COALESCE((SELECT MAX(id) FROM {table}), 1),"
                            f" (SELECT MAX(id) FROM {table}) IS NOT NULL)"
                        )
                    members = await _check(conn, lite, rows)
            finally:
                await conn.close()
    return Copied(rows, members, time.monotonic() - started)


async def _check(conn: asyncpg.Connection, lite: sqlite3.Connection, rows: dict[str, int]) -> int:
    """Refuse (rolling the copy back) unless it says what the original says; the members."""
    for table, count in rows.items():
        if await conn.fetchval(f"SELECT count(*) FROM {table}") != count:
            raise StorageError(f"the copy of {table} lost rows; nothing was copied")
    problems = await ledger.reconcile(conn)
    if problems:
        raise StorageError(f"the copied ledger does not reconcile ({problems[0]}); nothing copied")
    query = "SELECT guild_id, user_id, account, bucket, amount FROM balances"
    copied = sorted(tuple(r) for r in await conn.fetch(query))
    if copied != sorted(lite.execute(query).fetchall()):
        raise StorageError("the copied balances differ from the original; nothing was copied")
    return len({(g, u) for g, u, *_ in copied})
