"""One bot process per SQLite database, enforced by an OS file lock.

Two processes on one database would both resume and deliver the same jobs. The lock is
``flock`` on ``<database>.lock`` next to the database, held for the life of the process:
the kernel releases it when the process exits, however it exits (a crash or SIGKILL
included), so a stale lock file never blocks a restart. The file holds the holder's pid,
for the refusal message only. Several processes share a PostgreSQL database instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from bot.storage.interface import StorageError
from bot.storage.sqlite.store import check_place

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the bot targets Linux
    fcntl = None  # type: ignore[assignment]


class AlreadyRunning(StorageError):
    """Another process holds this database; the message says which and what to do."""


def lock_path(database: Path) -> Path:
    """Where the lock for ``database`` lives."""
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def instance_lock(database: Path) -> Iterator[None]:
    """Hold the database's lock until the block ends; AlreadyRunning if another process does."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    check_place(database)
    path = lock_path(database)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(
            f"cannot create the lock file {path}: {exc.strerror or exc}; make its folder writable"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise AlreadyRunning(
                f"another imagine-bot (pid {holder}) is already running on {database}; "
                "only one process may use a SQLite database: stop that one first, or give "
                "this one its own DATABASE_PATH"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
