"""The PostgreSQL transaction: the shared repositories over this package's SQL modules,
each method one awaited call on the unit's connection."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from bot.storage.postgres import (  # noqa: F401
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
from bot.storage.repositories import Call, SqlTransaction

T = TypeVar("T")
SQL = sys.modules[__name__]
"""This module stands for the engine's SQL modules (imported above by name)."""


def on(conn: asyncpg.Connection) -> Call:
    """A ``call`` that runs the SQL function on ``conn`` (inside its open transaction)."""

    async def call(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return await fn(conn, *args, **kwargs)

    return call


class PostgresTransaction(SqlTransaction):
    """Every repository over one PostgreSQL transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(on(conn), SQL)
