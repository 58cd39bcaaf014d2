"""The SQLite store: one connection on its own thread, migrated at start, units in batches.

A unit of work (an async function of a ``Transaction``) is run whole on the database
thread: its repository calls are plain SQL calls there, so a transaction costs one thread
hop however many statements it has (aiosqlite's public API costs one hop per statement:
measured 609 µs against 135 µs for a typical transaction). Units that arrive while one
batch is being written are committed together in the next (group commit), each inside
its own SAVEPOINT when one of them fails, so every unit is still all-or-nothing and one
failing unit never undoes another. ``BEGIN IMMEDIATE`` takes SQLite's write lock for the
whole batch, so another process writing the same file waits (``busy_timeout``) rather
than interleaving: reads followed by writes inside a unit are serialised against every
other writer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.storage.interface import StorageError, Transaction, Unit
from bot.storage.sqlite.transaction import SqliteTransaction, direct

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


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


def _run_batch(conn: sqlite3.Connection, batch: list[Unit[Any]]) -> list[tuple[bool, Any]]:
    """One transaction for the whole batch.

    Units almost never fail, so the batch first runs without savepoints; if one raises,
    the transaction is rolled back and the batch replayed with a savepoint per unit, so
    the failed unit leaves nothing behind and the others still land. Replaying is safe
    because a unit is a function of the database alone.
    """
    tx = SqliteTransaction(direct(conn))
    if len(batch) > 1:
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [drive(unit(tx)) for unit in batch]
            conn.execute("COMMIT")
            return [(True, result) for result in results]
        except Exception:
            conn.execute("ROLLBACK")
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for unit in batch:
            conn.execute("SAVEPOINT unit")
            try:
                outcomes.append((True, drive(unit(tx))))
            except Exception as exc:
                conn.execute("ROLLBACK TO unit")
                outcomes.append((False, exc))
            conn.execute("RELEASE unit")
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


# Batches handed to the database thread at once (they run in order either way). One at a
# time measured fastest: the units that arrive while a batch runs form the next, larger
# batch, and fewer, larger transactions cost less than keeping the thread always fed.
IN_FLIGHT = 1
PRAGMAS = ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "busy_timeout = 5000")


def drive(unit: Awaitable[T]) -> T:
    """Run a unit to its end right here: on the database thread it never has to wait."""
    coro = unit.__await__()
    try:
        next(coro)
    except StopIteration as done:
        return done.value
    coro.close()
    raise StorageError("a storage unit awaited something other than its transaction")


def _connect(target: str) -> sqlite3.Connection:
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    try:
        for pragma in PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteStore:
    """``Store`` on one SQLite file: every unit runs on this store's own database thread."""

    def __init__(self, conn: sqlite3.Connection, path: str, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self.path = path
        self._executor = executor
        self._pending: list[tuple[Unit[Any], asyncio.Future[Any]]] = []
        self._batches: set[asyncio.Task[None]] = set()
        self._dispatch_scheduled = False
        self._exclusive = asyncio.Lock()
        self._closed = False

    @property
    def location(self) -> str:
        """The database file."""
        return self.path

    @classmethod
    async def open(cls, path: str | Path, *, migrations: Path = MIGRATIONS) -> SqliteStore:
        """Open (creating the folder), set WAL, and bring the schema up to date."""
        target = str(path)
        if target != ":memory:":
            check_place(Path(target))
        steps = migrations_in(migrations)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, target)
        except sqlite3.Error as exc:
            executor.shutdown(wait=False)
            raise _open_error(target, exc) from exc
        store = cls(conn, target, executor)
        try:
            await store._hop(_not_foreign, target)
            await store._hop(_migrate, steps, target)
        except sqlite3.Error as exc:
            await store._shut()
            raise _open_error(target, exc) from exc
        except BaseException:
            await store._shut()
            raise
        return store

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` as one transaction, grouped with the units waiting with it."""
        if self._closed:
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((unit, future))
        if not self._dispatch_scheduled and len(self._batches) < IN_FLIGHT:
            # Dispatch on the next loop turn, so the units of this turn share the batch.
            self._dispatch_scheduled = True
            loop.call_soon(self._dispatch)
        return await future

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction held open across awaits (each call one hop); batches wait."""
        if self._closed:
            raise StorageError("the database is closed")
        async with self._exclusive:
            await self._hop(_execute, "BEGIN IMMEDIATE")
            try:
                yield SqliteTransaction(self._call)
            except BaseException:
                await self._hop(_execute, "ROLLBACK")
                raise
            await self._hop(_execute, "COMMIT")

    async def close(self) -> None:
        """Commit what is queued, then close the connection and its thread."""
        self._closed = True
        while self._pending or self._batches:
            if self._pending and len(self._batches) < IN_FLIGHT:
                self._dispatch()
            await asyncio.wait(set(self._batches))
        await self._shut()

    async def _shut(self) -> None:
        await self._hop(sqlite3.Connection.close)
        self._executor.shutdown(wait=True)

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

    async def _commit(self, batch: list[tuple[Unit[Any], asyncio.Future[Any]]]) -> None:
        try:
            async with self._exclusive:
                outcomes = await self._hop(_run_batch, [unit for unit, _ in batch])
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

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._hop(functools.partial(fn, **kwargs), *args)

    async def _hop(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._conn, *args)


def _execute(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql)
