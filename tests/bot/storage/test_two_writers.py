"""The ledger stays right with two writers on one database, not only one.

Two stores (two connections, as two processes would; on each engine) hold, grant and
release credits for the same members at the same time. Every hold that is let through is
covered by credits nobody else took, no balance goes below zero, and legs, balances and
movement numbers still reconcile.
"""

from __future__ import annotations

import asyncio

from bot.errors import InsufficientCredits
from bot.storage.engines import open_store
from bot.storage.interface import Store
from tests.engines import peek

GUILD = 5
MEMBERS = (1, 2, 3)
AT = 1_741_600_000.0
ALLOWANCE, PRICE, TRIES = 60, 6, 20


async def hold_many(store: Store, first_job: int) -> int:
    """Try ``TRIES`` holds per member, all at once; how many were let through."""

    async def one(job: int, member: int) -> bool:
        try:
            await store.run(
                lambda tx: tx.ledger.hold(
                    guild_id=GUILD,
                    user_id=member,
                    job_id=job,
                    amount=PRICE,
                    at=AT,
                    allowance=ALLOWANCE,
                )
            )
        except InsufficientCredits:
            return False
        return True

    jobs = [
        (first_job + i * len(MEMBERS) + m, member)
        for i in range(TRIES)
        for m, member in enumerate(MEMBERS)
    ]
    return sum(await asyncio.gather(*(one(job, member) for job, member in jobs)))


async def test_two_writers_never_spend_the_same_credits(place: str) -> None:
    path = place
    first, second = await open_store(path), await open_store(path)
    try:
        granted = await second.run(
            lambda tx: tx.ledger.grant(
                guild_id=GUILD, user_id=MEMBERS[0], amount=12, actor_id=9, note=None, at=AT
            )
        )
        held = await asyncio.gather(hold_many(first, 1_000), hold_many(second, 2_000))
        per_member = ALLOWANCE // PRICE
        assert sum(held) == len(MEMBERS) * per_member + granted // PRICE, (
            "exactly the holds the credits cover, split between the writers however it fell"
        )
        released = await first.run(lambda tx: tx.ledger.release(job_id=1_000, at=AT + 1))
        assert released in (0, PRICE)
        problems = await second.run(lambda tx: tx.ledger.reconcile())
    finally:
        await first.close()
        await second.close()
    assert problems == []
    [(negative,)] = await peek(
        path,
        "SELECT COUNT(*) FROM balances WHERE account NOT IN ('issued', 'spent') AND amount < 0",
    )
    [movements] = await peek(
        path,
        "SELECT COUNT(DISTINCT movement), COUNT(DISTINCT movement || ':' || user_id) FROM ledger",
    )
    assert negative == 0
    assert movements[0] == movements[1], "no movement number was given to two writers"
