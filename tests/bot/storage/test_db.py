"""The database: migrations at open, one transaction per change, changes grouped safely."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.db import MIGRATIONS, Database, StorageError


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "data" / "bot.sqlite3")
    yield db
    await db.close()


async def test_open_creates_the_folder_the_schema_and_wal(
    database: Database, tmp_path: Path
) -> None:
    assert (tmp_path / "data" / "bot.sqlite3").exists()

    def inspect(conn: sqlite3.Connection) -> tuple[int, str, list[str]]:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return version, mode, tables

    version, mode, tables = await database.read(inspect)
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
    db = await Database.open(path, migrations=migrations)
    await db.write(
        lambda c: c.execute(
            "INSERT INTO bans (guild_id, user_id, reason, banned_by, banned_at) "
            "VALUES (1, 2, 'spam', 3, 0)"
        )
    )
    await db.close()
    step = len(list(migrations.glob("*.sql"))) + 1
    (migrations / f"{step:04d}_add_note.sql").write_text(
        "ALTER TABLE bans ADD COLUMN note TEXT NOT NULL DEFAULT 'kept';"
    )
    db = await Database.open(path, migrations=migrations)
    try:
        row = await db.read(
            lambda c: c.execute("SELECT reason, note FROM bans WHERE user_id = 2").fetchone()
        )
        version = await db.read(lambda c: c.execute("PRAGMA user_version").fetchone()[0])
    finally:
        await db.close()
    assert row == ("spam", "kept")
    assert version == step


async def test_a_newer_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(StorageError) as caught:
        await Database.open(path)
    message = str(caught.value)
    assert "999" in message
    assert "newer version" in message


async def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    path = tmp_path / "bot.sqlite3"
    await (await Database.open(path, migrations=migrations)).close()
    step = len(list(migrations.glob("*.sql"))) + 1
    (migrations / f"{step:04d}_broken.sql").write_text(
        "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;"
    )
    with pytest.raises(StorageError, match="broken"):
        await Database.open(path, migrations=migrations)
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
        await Database.open(tmp_path / "x.sqlite3", migrations=migrations)


async def test_one_failing_change_does_not_undo_the_others(database: Database) -> None:
    def ban(user: int):  # type: ignore[no-untyped-def]
        def change(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO bans (guild_id, user_id, reason, banned_by, banned_at) "
                "VALUES (1, ?, 'r', 0, 0)",
                (user,),
            )
            if user == 2:
                raise ValueError("refused halfway")
            return user

        return change

    results = await asyncio.gather(
        *(database.write(ban(u)) for u in range(1, 5)), return_exceptions=True
    )
    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert results[2:] == [3, 4]
    kept = await database.read(
        lambda c: [r[0] for r in c.execute("SELECT user_id FROM bans ORDER BY user_id")]
    )
    assert kept == [1, 3, 4], "the failed change left nothing behind, the others all landed"


async def test_many_concurrent_changes_are_grouped_and_all_committed(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await asyncio.gather(
        *(
            db.write(
                lambda c, i=i: c.execute(
                    "INSERT INTO audit_log (guild_id, actor_id, action, at) VALUES (1, ?, 'x', 0)",
                    (i,),
                )
            )
            for i in range(500)
        )
    )
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 500


async def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    pending = asyncio.ensure_future(
        db.write(
            lambda c: c.execute(
                "INSERT INTO audit_log (guild_id, actor_id, action, at) VALUES (1, 1, 'late', 0)"
            )
        )
    )
    await asyncio.sleep(0)  # the write is queued, not yet committed
    await db.close()
    await pending
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT action FROM audit_log").fetchall() == [("late",)]
    with pytest.raises(StorageError, match="closed"):
        await db.write(lambda c: None)
