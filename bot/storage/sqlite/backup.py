"""Online backups through SQLite's backup API, and restoring one in place of the database.

The database runs in WAL mode, so a plain file copy made while the bot writes can miss
committed transactions (they may still be in the ``-wal`` file) or catch a page half
written. SQLite's backup API copies a consistent snapshot from a read transaction while
the bot keeps writing. The copy is checked, made a single self-contained file, and only
then given its name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bot.storage.interface import StorageError


@dataclass(frozen=True)
class Copied:
    """What a backup or a restore wrote."""

    path: Path
    schema: int
    jobs: int
    size: int
    seconds: float


def _describe(conn: sqlite3.Connection, path: Path) -> tuple[int, int]:
    """(schema version, jobs) of an imagine-bot database; StorageError for anything else."""
    try:
        schema = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not an imagine-bot database (SQLite says: {exc})") from exc
    if schema == 0 or "jobs" not in tables:
        raise StorageError(f"{path} is not an imagine-bot database (it has no imagine-bot schema)")
    jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    return schema, jobs


def _check_target(target: Path) -> None:
    if target.exists():
        raise StorageError(f"{target} already exists: choose a new file name, or delete it first")
    folder = target.parent
    if not folder.is_dir():
        raise StorageError(f"the folder {folder} does not exist: create it first")
    if not os.access(folder, os.W_OK):
        raise StorageError(f"the folder {folder} is not writable by this user")


def backup(source: Path, target: Path) -> Copied:
    """Copy the live database to ``target`` (a new file), safe while the bot writes."""
    started = time.monotonic()
    if not source.is_file():
        raise StorageError(f"no database at {source}: check DATABASE_PATH")
    _check_target(target)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(source, timeout=30)) as live:
            _describe(live, source)
            with contextlib.closing(sqlite3.connect(partial)) as copy:
                live.backup(copy)
                copy.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
                if (verdict := copy.execute("PRAGMA integrity_check").fetchone()[0]) != "ok":
                    raise StorageError(f"the copy failed its integrity check: {verdict}")
                schema, jobs = _describe(copy, partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise StorageError(f"the backup of {source} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Copied(target, schema, jobs, target.stat().st_size, time.monotonic() - started)


def restore(source: Path, database: Path) -> tuple[Copied, Path | None]:
    """Put the backup ``source`` in place of ``database`` (the bot must be stopped).

    The current database, if any, is moved aside first (returned), and its ``-wal`` and
    ``-shm`` files go with it: SQLite would otherwise replay the old log onto the backup.
    """
    started = time.monotonic()
    if not source.is_file():
        raise StorageError(f"no backup at {source}")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as copy:
            if (verdict := copy.execute("PRAGMA integrity_check").fetchone()[0]) != "ok":
                raise StorageError(f"{source} failed its integrity check: {verdict}")
            schema, jobs = _describe(copy, source)
    except sqlite3.Error as exc:
        raise StorageError(f"{source} is not an imagine-bot database (SQLite says: {exc})") from exc
    database.parent.mkdir(parents=True, exist_ok=True)
    aside = None
    if database.exists():
        aside = database.with_name(f"{database.name}.before-restore-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            old = database.with_name(database.name + suffix)
            if old.exists():
                os.replace(old, aside.with_name(aside.name + suffix))
    partial = database.with_name(database.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, database)
    return Copied(
        database, schema, jobs, database.stat().st_size, time.monotonic() - started
    ), aside
