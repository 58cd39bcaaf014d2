"""What every engine's store promises: one transaction per unit, units grouped safely,
nothing queued lost at close (run on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage.engines import open_store
from bot.storage.interface import StorageError, Store, Transaction
from tests.engines import peek


async def test_one_failing_unit_does_not_undo_the_others(db: Store) -> None:
    def ban(user: int):  # type: ignore[no-untyped-def]
        async def unit(tx: Transaction) -> int:
            await tx.guilds.ban(1, user, "r", by=0, at=0)
            if user == 2:
                raise ValueError("refused halfway")
            return user

        return unit

    results = await asyncio.gather(*(db.run(ban(u)) for u in range(1, 5)), return_exceptions=True)
    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert results[2:] == [3, 4]
    kept = [b.user_id for b in await db.run(lambda tx: tx.guilds.bans(1))]
    assert sorted(kept) == [1, 3, 4], "the failed unit left nothing behind, the others landed"


def note(i: int, action: str = "x"):  # type: ignore[no-untyped-def]
    return lambda tx: tx.audit.record(1, i, action, before=None, after=None, at=0)


async def test_many_concurrent_units_are_grouped_and_all_committed(place: str) -> None:
    db = await open_store(place)
    await asyncio.gather(*(db.run(note(i)) for i in range(500)))
    await db.close()
    assert await peek(place, "SELECT COUNT(*) FROM audit_log") == [(500,)]


async def test_close_commits_what_is_queued(place: str) -> None:
    db = await open_store(place)
    pending = asyncio.ensure_future(db.run(note(1, "late")))
    await asyncio.sleep(0)  # the unit is queued, not yet committed
    await db.close()
    await pending
    assert await peek(place, "SELECT action FROM audit_log") == [("late",)]
    with pytest.raises(StorageError, match="closed"):
        await db.run(note(2))


async def test_a_transaction_block_commits_or_rolls_back_whole(db: Store) -> None:
    async with db.transaction() as tx:
        await tx.guilds.ban(1, 1, "kept", by=0, at=0)
        await tx.guilds.ban(1, 2, "kept", by=0, at=0)

    async def change_of_mind() -> None:
        async with db.transaction() as tx:
            await tx.guilds.ban(1, 3, "dropped", by=0, at=0)
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        await change_of_mind()
    banned = await db.run(lambda tx: tx.guilds.bans(1))
    assert sorted(b.user_id for b in banned) == [1, 2]
