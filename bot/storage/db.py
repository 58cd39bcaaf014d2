"""The one SQLite database: opened once, migrated at start, every change a transaction.

Each change is a plain function of a ``sqlite3.Connection`` that runs on
aiosqlite's connection thread. Changes that arrive while one transaction is being
written are committed together in the next (group commit), each inside its own
SAVEPOINT, so every change is still all-or-nothing and one failing change never
undoes another. Because one thread runs them one after another, a change never
sees another half-done: no asyncio lock is needed to keep balances consistent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

T = TypeVar("T")
Change = Callable[[sqlite3.Connection], Any]

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StorageError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


@dataclass(frozen=True)
class Migration:
    """One numbered schema step."""

    version: int
    path: Path


def migrations_in(folder: Path) -> list[Migration]:
    """The numbered ``NNNN_name.sql`` files in order; gaps or duplicates are a packaging bug."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match is None:
            raise StorageError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StorageError(f"migrations must be numbered 1, 2, 3… without gaps; found {versions}")
    return found


def _migrate(conn: sqlite3.Connection, steps: list[Migration], path: str) -> int:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    latest = steps[-1].version if steps else 0
    if current > latest:
        raise StorageError(
            f"the database DATABASE_PATH={path} has schema version {current}, but this "
            f"imagine-bot knows only up to {latest}: a newer version wrote it, and there is no "
            "downgrade. Run that version, or restore a backup made before the upgrade."
        )
    for step in steps:
        if step.version <= current:
            continue
        script = step.path.read_text(encoding="utf-8")
        log.info("upgrading the database to schema %d (%s)", step.version, step.path.name)
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n;PRAGMA user_version = {step.version};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"migration {step.path.name} failed: {exc}") from exc
    return latest


def _run_batch(conn: sqlite3.Connection, batch: list[Change]) -> list[tuple[bool, Any]]:
    """One transaction for the whole batch.

    Changes almost never fail, so the batch first runs without savepoints; if one raises,
    the transaction is rolled back and the batch replayed with a savepoint per change,
    so the failed change leaves nothing behind and the others still land. Replaying is
    safe because a change is a function of the database alone.
    """
    if len(batch) > 1:
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [change(conn) for change in batch]
            conn.execute("COMMIT")
            return [(True, result) for result in results]
        except Exception:
            conn.execute("ROLLBACK")
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for change in batch:
            conn.execute("SAVEPOINT change")
            try:
                outcomes.append((True, change(conn)))
            except Exception as exc:
                conn.execute("ROLLBACK TO change")
                outcomes.append((False, exc))
            conn.execute("RELEASE change")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def check_place(path: Path) -> None:
    """Create the database's folder, or say in one line why it cannot be."""
    if path.is_dir():
        raise StorageError(
            f"DATABASE_PATH={path} is a folder: point it at a file, "
            f"e.g. {path / 'imagine-bot.sqlite3'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the folder {path.parent} for DATABASE_PATH={path} "
            f"({exc.strerror or exc}): set DATABASE_PATH to a file in a folder this user can write"
        ) from exc


def _open_error(target: str, exc: sqlite3.Error) -> StorageError:
    """What went wrong opening the database, and what to do, in one line."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return StorageError(
            f"DATABASE_PATH={target} is not an imagine-bot database (SQLite says: {text}): "
            "point DATABASE_PATH at the bot's database, or at a new file to start afresh"
        )
    if "readonly" in text or "unable to open" in text or "permission" in text.lower():
        return StorageError(
            f"cannot write the database DATABASE_PATH={target} (SQLite says: {text}): give this "
            "user write access to the file and its folder, or choose another DATABASE_PATH"
        )
    return StorageError(f"cannot use the database DATABASE_PATH={target}: {text}")


def _not_foreign(conn: sqlite3.Connection, target: str) -> None:
    """Refuse a SQLite file that belongs to something else rather than add tables to it."""
    if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if tables:
        raise StorageError(
            f"DATABASE_PATH={target} is a SQLite database of something else (it has {tables} "
            "tables but no imagine-bot schema): point DATABASE_PATH at a new file"
        )


# Batches handed to the connection thread at once (they run in order either way). One at
# a time measured fastest: the writes that arrive while a batch runs form the next, larger
# batch, and fewer, larger transactions cost less than keeping the thread always fed.
IN_FLIGHT = 1


class Database:
    """The bot's one connection; ``write``/``read`` run a change on the connection thread."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._pending: list[tuple[Change, asyncio.Future[Any]]] = []
        self._batches: set[asyncio.Task[None]] = set()
        self._dispatch_scheduled = False
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, migrations: Path = MIGRATIONS) -> Database:
        """Open (creating the folder), set WAL, and bring the schema up to date."""
        target = str(path)
        if target != ":memory:":
            check_place(Path(target))
        steps = migrations_in(migrations)
        try:
            conn = await aiosqlite.connect(target, isolation_level=None)
        except sqlite3.Error as exc:
            raise _open_error(target, exc) from exc
        db = cls(conn, target)
        try:
            for pragma in (
                "journal_mode = WAL",
                "synchronous = NORMAL",
                "foreign_keys = ON",
                "busy_timeout = 5000",
            ):
                await conn.execute(f"PRAGMA {pragma}")
            await db._on_thread(_not_foreign, target)
            await db._on_thread(_migrate, steps, target)
        except sqlite3.Error as exc:
            await conn.close()
            raise _open_error(target, exc) from exc
        except BaseException:
            await conn.close()
            raise
        return db

    async def write(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Apply ``change`` as one atomic transaction (grouped with others waiting); its result."""
        if self._closed:
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((change, future))
        if not self._dispatch_scheduled and len(self._batches) < IN_FLIGHT:
            # Dispatch on the next loop turn, so writes made in this turn share the batch.
            self._dispatch_scheduled = True
            loop.call_soon(self._dispatch)
        return await future

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read after every write queued before it, so a caller reads its own writes."""
        return await self.write(query)

    async def close(self) -> None:
        """Commit what is queued, then close the connection."""
        self._closed = True
        while self._pending or self._batches:
            if self._pending and len(self._batches) < IN_FLIGHT:
                self._dispatch()
            await asyncio.wait(set(self._batches))
        await self._conn.close()

    def _dispatch(self) -> None:
        self._dispatch_scheduled = False
        if not self._pending or len(self._batches) >= IN_FLIGHT:
            return
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._commit(batch))
        self._batches.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        if self._pending and not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    async def _commit(self, batch: list[tuple[Change, asyncio.Future[Any]]]) -> None:
        try:
            outcomes = await self._on_thread(_run_batch, [change for change, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(StorageError(f"the transaction failed: {exc}"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        # aiosqlite runs every call on its connection thread; this hands it one whole
        # function, so a transaction costs one thread hop instead of one per statement.
        return await self._conn._execute(fn, self._conn._conn, *args)
