"""The SQLite transaction: the shared repositories over this package's SQL modules.

When the store runs a whole unit on its database thread, ``call`` runs each SQL function
at once (the unit never leaves that thread); inside ``Store.transaction()``, ``call`` is
one hop to that thread per method.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from bot.storage.repositories import Call, SqlTransaction
from bot.storage.sqlite import (  # noqa: F401
    audit,
    defaults,
    guilds,
    history,
    jobs,
    ledger,
    reports,
    state,
    tasks,
)

T = TypeVar("T")
SQL = sys.modules[__name__]
"""This module stands for the engine's SQL modules (imported above by name)."""


def direct(conn: sqlite3.Connection) -> Call:
    """A ``call`` that runs the SQL function at once (already on the database thread)."""

    async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(conn, *args, **kwargs)

    return call


class SqliteTransaction(SqlTransaction):
    """Every repository over one SQLite transaction."""

    def __init__(self, call: Call) -> None:
        super().__init__(call, SQL)
