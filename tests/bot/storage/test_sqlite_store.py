"""The SQLite store: migrations at open, one transaction per unit, units grouped safely."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.interface import StorageError, Transaction
from bot.storage.sqlite.store import MIGRATIONS, SqliteStore


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    db = await SqliteStore.open(tmp_path / "data" / "bot.sqlite3")
    yield db
    await db.close()


async def test_open_creates_the_folder_the_schema_and_wal(
    database: SqliteStore, tmp_path: Path
) -> None:
    assert (tmp_path / "data" / "bot.sqlite3").exists()

    with sqlite3.connect(tmp_path / "data" / "bot.sqlite3") as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
    assert version == len(list(MIGRATIONS.glob("*.sql")))
    assert mode == "wal"
    for table in (
        "jobs",
        "ledger",
        "balances",
        "guild_settings",
        "blocklist",
        "bans",
        "audit_log",
        "job_images",
    ):
        assert table in tables


async def test_an_older_database_is_upgraded_in_place(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    path = tmp_path / "bot.sqlite3"
    db = await SqliteStore.open(path, migrations=migrations)
    await db.run(lambda tx: tx.guilds.ban(1, 2, "spam", by=3, at=0))
    await db.close()
    step = len(list(migrations.glob("*.sql"))) + 1
    (migrations / f"{step:04d}_add_note.sql").write_text(
        "ALTER TABLE bans ADD COLUMN note TEXT NOT NULL DEFAULT 'kept';"
    )
    await (await SqliteStore.open(path, migrations=migrations)).close()
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT reason, note FROM bans WHERE user_id = 2").fetchone()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert row == ("spam", "kept")
    assert version == step


async def test_a_newer_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(StorageError) as caught:
        await SqliteStore.open(path)
    message = str(caught.value)
    assert "999" in message
    assert "newer version" in message


async def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    path = tmp_path / "bot.sqlite3"
    await (await SqliteStore.open(path, migrations=migrations)).close()
    step = len(list(migrations.glob("*.sql"))) + 1
    (migrations / f"{step:04d}_broken.sql").write_text(
        "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;"
    )
    with pytest.raises(StorageError, match="broken"):
        await SqliteStore.open(path, migrations=migrations)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == step - 1
        assert (
            conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0]
            == 0
        )


async def test_misnumbered_migrations_are_a_packaging_error(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0002_skip.sql").write_text("SELECT 1;")
    with pytest.raises(StorageError, match="without gaps"):
        await SqliteStore.open(tmp_path / "x.sqlite3", migrations=migrations)


async def test_a_unit_runs_whole_on_the_database_thread(database: SqliteStore) -> None:
    async def unit(tx: Transaction) -> list[str]:
        await tx.guilds.ban(1, 7, "r", by=0, at=0)
        return [threading.current_thread().name, *(b.reason for b in await tx.guilds.bans(1))]

    thread, reason = await database.run(unit)
    assert thread.startswith("sqlite") and reason == "r"


async def test_a_unit_that_waits_on_anything_else_is_refused(database: SqliteStore) -> None:
    async def unit(tx: Transaction) -> None:
        await tx.guilds.ban(1, 8, "r", by=0, at=0)
        await asyncio.sleep(0)

    with pytest.raises(StorageError, match="awaited something other"):
        await database.run(unit)
    assert await database.run(lambda tx: tx.guilds.bans(1)) == [], "and left nothing behind"
