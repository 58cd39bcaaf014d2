"""Opening the store the operator configured: the one place that picks a storage engine.

``postgresql://…`` (or ``postgres://…``) is a PostgreSQL server shared by a fleet of bot
processes; anything else is the path of a SQLite file, for a single process.
"""

from __future__ import annotations

from pathlib import Path

from bot.storage.interface import Store
from bot.storage.postgres.store import PostgresStore, is_url
from bot.storage.sqlite.store import SqliteStore


async def open_store(database: str | Path) -> Store:
    """Open (creating and migrating as needed) the database at ``database``."""
    if is_url(database):
        return await PostgresStore.open(str(database))
    return await SqliteStore.open(database)
