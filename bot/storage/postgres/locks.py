"""Locks taken inside a unit, and how they behave in a batch.

A batch of units runs in one transaction, so it could take several members' locks in any
order, and two processes' batches could wait on each other. So a batch never waits: its
locks are tried (``pg_try_advisory_xact_lock``, ``FOR UPDATE NOWAIT``) and, when one is
taken, the batch gives way (``Contended``) and its units run one transaction each, in
order, where a lock is waited for. A unit alone locks one member at a time, so waiting
there cannot close a cycle with a batch.
"""

from __future__ import annotations

from contextvars import ContextVar

import asyncpg

WAITS: ContextVar[bool] = ContextVar("imagine_bot_pg_lock_waits", default=True)
"""Whether the unit running in this task may wait for a lock (False inside a batch)."""


class Contended(Exception):
    """A lock a batch tried was held by another transaction: run the units one by one."""


async def advisory(conn: asyncpg.Connection, key: int) -> None:
    """Hold the transaction-scoped advisory lock ``key`` until commit or rollback."""
    if WAITS.get():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", key)
    elif not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", key):
        raise Contended(f"advisory lock {key} is held")


def for_update() -> str:
    """The row-locking clause for a SELECT in this unit."""
    return " FOR UPDATE" if WAITS.get() else " FOR UPDATE NOWAIT"
