"""The PostgreSQL store: a small pool of asyncpg connections, migrated at open, units in
batches, for a fleet of bot processes sharing one database.

Like the SQLite store, the units that arrive while one batch is written are committed
together in the next, in the order they were handed over, so a unit sees every unit whose
``run`` returned before it started. Transactions are READ COMMITTED; what must not
interleave with another process is serialised by locks taken inside the unit (a member's
ledger lock, a guild's settings row, compare-and-set UPDATEs; see ``locks`` for why a batch
never waits for one). A batch that meets a held lock, a failing unit or a conflict is rolled
back and its units run one transaction each; a unit that loses a deadlock or a
serialization check is run again, which is safe because a unit is a function of the
database alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.storage.interface import StorageError, Transaction, Unit
from bot.storage.postgres.locks import WAITS
from bot.storage.postgres.transaction import PostgresTransaction
from bot.storage.sqlite.store import Migration, migrations_in

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMES = ("postgresql://", "postgres://")
RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)
ATTEMPTS = 8
MIGRATION_LOCK = 0x696D6167696E6531  # "imagine1": one process of the fleet migrates at a time
POOL_SIZE = 4


def is_url(database: str | Path) -> bool:
    """Whether ``database`` names a PostgreSQL server rather than a SQLite file."""
    return isinstance(database, str) and database.startswith(SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


async def _version(conn: asyncpg.Connection, where: str) -> int:
    """The stored schema version (0 for an empty schema); refuses someone else's tables."""
    if await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
        return int(await conn.fetchval("SELECT version FROM schema_version"))
    tables = await conn.fetchval(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    if tables:
        raise StorageError(
            f"DATABASE_URL={where} holds {tables} tables of something else (no imagine-bot "
            "schema): point DATABASE_URL at an empty database"
        )
    return 0


async def migrate(conn: asyncpg.Connection, steps: list[Migration], where: str) -> int:
    """Bring the schema up to date, one step per transaction, holding the fleet's migration
    lock so processes starting together migrate once; the version now."""
    latest = steps[-1].version if steps else 0
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        current = await _version(conn, where)
        if current > latest:
            raise StorageError(
                f"the database DATABASE_URL={where} has schema version {current}, but this "
                f"imagine-bot knows only up to {latest}: a newer version wrote it, and there "
                "is no downgrade. Run that version, or restore a dump made before the upgrade."
            )
        for step in steps:
            if step.version <= current:
                continue
            log.info("upgrading the database to schema %d (%s)", step.version, step.path.name)
            try:
                async with conn.transaction():
                    if step.version == 1:
                        await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                        await conn.execute("INSERT INTO schema_version VALUES (0)")
                    await conn.execute(step.path.read_text(encoding="utf-8"))
                    await conn.execute("UPDATE schema_version SET version = $1", step.version)
            except asyncpg.PostgresError as exc:
                raise StorageError(f"migration {step.path.name} failed: {exc}") from exc
        return max(current, latest)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def connect_error(url: str, exc: BaseException) -> StorageError:
    """What went wrong reaching the server, and what to do, in one line."""
    return StorageError(
        f"cannot use the database DATABASE_URL={redact(url)} ({type(exc).__name__}: {exc}): "
        "start PostgreSQL, or correct DATABASE_URL (postgresql://user:password@host:port/db)"
    )


class PostgresStore:
    """``Store`` on a PostgreSQL database shared by every process of the bot."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url
        self._pending: list[tuple[Unit[Any], asyncio.Future[Any]]] = []
        self._batch: asyncio.Task[None] | None = None
        self._dispatch_scheduled = False
        self._closed = False

    @property
    def location(self) -> str:
        """The database's URL, without its password."""
        return redact(self._url)

    @classmethod
    async def open(
        cls, url: str, *, migrations: Path = MIGRATIONS, pool_size: int = POOL_SIZE
    ) -> PostgresStore:
        """Connect, and bring the schema up to date (once for the whole fleet)."""
        steps = migrations_in(migrations)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise await connect_error(url, exc) from exc
        try:
            async with pool.acquire() as conn:
                await migrate(conn, steps, redact(url))
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url)

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` as one transaction, grouped with the units waiting with it."""
        if self._closed:
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((unit, future))
        if not self._dispatch_scheduled and self._batch is None:
            self._dispatch_scheduled = True
            loop.call_soon(self._dispatch)
        return await future

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction held open across awaits, on a connection of its own."""
        if self._closed:
            raise StorageError("the database is closed")
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn)

    async def close(self) -> None:
        """Commit what is queued, then close the pool."""
        self._closed = True
        while self._pending or self._batch is not None:
            if self._batch is None:
                self._dispatch()
            if self._batch is not None:
                await asyncio.wait({self._batch})
        await self._pool.close()

    def _dispatch(self) -> None:
        self._dispatch_scheduled = False
        if not self._pending or self._batch is not None:
            return
        batch, self._pending = self._pending, []
        self._batch = asyncio.ensure_future(self._commit(batch))
        self._batch.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batch = None
        if self._pending and not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    async def _commit(self, batch: list[tuple[Unit[Any], asyncio.Future[Any]]]) -> None:
        try:
            async with self._pool.acquire() as conn:
                outcomes = await _run_batch(conn, [unit for unit, _ in batch])
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


async def _run_batch(conn: asyncpg.Connection, batch: list[Unit[Any]]) -> list[tuple[bool, Any]]:
    """The batch in one transaction whose locks never wait; if one is held elsewhere, if a
    unit fails, or if the transaction loses a conflict, it is rolled back and its units run
    one transaction each, in order (so a failed unit leaves nothing and the others land)."""
    if len(batch) > 1:
        tx = PostgresTransaction(conn)
        waits = WAITS.set(False)
        try:
            async with conn.transaction():
                results = [await unit(tx) for unit in batch]
            return [(True, result) for result in results]
        except Exception as exc:
            log.debug("a batch of %d units gave way (%r); one by one", len(batch), exc)
        finally:
            WAITS.reset(waits)
    return [await _alone(conn, unit) for unit in batch]


async def _alone(conn: asyncpg.Connection, unit: Unit[Any]) -> tuple[bool, Any]:
    """One unit in its own transaction, run again when it loses a deadlock or a
    serialization check (after a short random pause, so the rivals do not meet again)."""
    tx = PostgresTransaction(conn)
    for attempt in range(ATTEMPTS):
        try:
            async with conn.transaction():
                return True, await unit(tx)
        except RETRYABLE as exc:
            if attempt == ATTEMPTS - 1:
                return False, exc
            log.debug("a unit lost a conflict (%s); again", exc)
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        except Exception as exc:
            return False, exc
    raise AssertionError("unreachable")
