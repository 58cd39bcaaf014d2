"""Both storage engines for the tests: a SQLite file, or a schema of its own in a PostgreSQL
database made for this test run (``CREATE DATABASE imagine_test_<hex>``, dropped at the end),
so parallel runs on one machine never meet.

PostgreSQL is looked for on 127.0.0.1:5432 (trust authentication; users ``postgres`` and the
current user; databases ``postgres``, ``test``, ``root``), or at IMAGINE_TEST_POSTGRES_URL.
Without it the PostgreSQL half of the storage tests skips with one line saying why, unless
IMAGINE_REQUIRE_POSTGRES=1 (as in CI), where it fails.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
import sqlite3
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.storage.interface import Store
from bot.storage.postgres.store import is_url

T = TypeVar("T")
ENGINES = ("sqlite", "postgres")
REQUIRED = os.environ.get("IMAGINE_REQUIRE_POSTGRES", "") not in ("", "0")


def _candidates() -> list[str]:
    if url := os.environ.get("IMAGINE_TEST_POSTGRES_URL"):
        return [url]
    users = dict.fromkeys(("postgres", getpass.getuser()))
    return [
        f"postgresql://{user}@127.0.0.1:5432/{db}"
        for user in users
        for db in ("postgres", "test", "root")
    ]


def _in(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}", query=""))


@dataclass
class Server:
    """The run's own database on the PostgreSQL server."""

    admin: str
    url: str
    name: str

    async def schema(self) -> str:
        """A new empty schema in the run's database: the URL of a fresh place for a store."""
        name = f"s_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f"CREATE SCHEMA {name}")
        finally:
            await conn.close()
        return f"{self.url}?search_path={name}"


async def _start() -> tuple[Server | None, str]:
    reasons = []
    for admin in _candidates():
        try:
            conn = await asyncpg.connect(admin, timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            reasons.append(f"{admin}: {exc}")
            continue
        name = f"imagine_test_{secrets.token_hex(6)}"
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        except asyncpg.PostgresError as exc:
            reasons.append(f"{admin}: cannot CREATE DATABASE ({exc})")
            continue
        finally:
            await conn.close()
        return Server(admin, _in(admin, name), name), ""
    return None, "; ".join(reasons[:2])


async def _stop(server: Server) -> None:
    conn = await asyncpg.connect(server.admin)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {server.name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres() -> Any:
    """The run's PostgreSQL database (made on first use, dropped at the end), or the reason
    there is none."""
    server, reason = _aside(_start())
    yield server if server is not None else reason
    if server is not None:
        _aside(_stop(server))


def _aside(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on a loop of its own (a fixture may be first asked for inside a test's)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


def need(postgres: Server | str) -> Server:
    """The server, or skip (fail when IMAGINE_REQUIRE_POSTGRES is set) in one line."""
    if isinstance(postgres, Server):
        return postgres
    line = f"PostgreSQL is not reachable on 127.0.0.1:5432 ({postgres})"
    if REQUIRED:
        pytest.fail(f"{line}, and IMAGINE_REQUIRE_POSTGRES is set: start PostgreSQL 15")
    pytest.skip(f"{line}: start it to run the PostgreSQL half of the storage tests")


@pytest.fixture(params=ENGINES)
async def places(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Where a new database can live, for each engine: call it for one more fresh place."""
    if request.param == "sqlite":
        count = iter(range(1_000_000))

        async def sqlite_place() -> str:
            return str(tmp_path / f"db{next(count)}.sqlite3")

        return sqlite_place
    server = need(request.getfixturevalue("postgres"))
    return server.schema


@pytest.fixture
async def place(places: Any) -> str:
    """A fresh place for a database (a SQLite path or a PostgreSQL URL), for each engine."""
    found: str = await places()
    return found


async def peek(where: Store | str | Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the database itself on a connection of its own (it sees every committed unit)."""
    location = where.location if not isinstance(where, str | Path) else str(where)
    if is_url(location):
        conn = await asyncpg.connect(location)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()
    with sqlite3.connect(location) as lite:
        return lite.execute(sql).fetchall()


async def poke(where: Store, *statements: str) -> None:
    """Change the database behind the store's back (tampering, for tests of the checks)."""
    if is_url(where.location):
        conn = await asyncpg.connect(where.location)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()
        return
    with sqlite3.connect(where.location) as lite:
        for sql in statements:
            lite.execute(sql)
