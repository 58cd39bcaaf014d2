"""Opening the store the operator configured: the one place that picks a storage engine."""

from __future__ import annotations

from pathlib import Path

from bot.storage.interface import Store
from bot.storage.sqlite.store import SqliteStore


async def open_store(database: str | Path) -> Store:
    """Open (creating and migrating as needed) the database at ``database``."""
    return await SqliteStore.open(database)
