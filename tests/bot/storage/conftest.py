"""Every storage test runs on both engines: ``db`` is a fresh SQLite file, then a fresh
PostgreSQL schema (see ``tests.engines``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.storage.engines import open_store
from bot.storage.interface import Store


@pytest.fixture
async def db(place: str) -> AsyncIterator[Store]:
    """A fresh, migrated database of the test's own on each engine, closed afterwards."""
    store = await open_store(place)
    yield store
    await store.close()
