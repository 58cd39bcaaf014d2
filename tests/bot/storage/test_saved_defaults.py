"""Saved defaults and a member's job pages, through the storage interface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs import Job
from bot.models import Defaults, GenerationRequest, Privacy
from bot.storage.interface import Store, Transaction
from bot.storage.sqlite.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = await SqliteStore.open(tmp_path / "bot.sqlite3")
    yield db
    await db.close()


async def test_member_and_channel_defaults_are_kept_apart_and_forgotten_when_cleared(
    store: Store,
) -> None:
    mine = Defaults(aspect_ratio="9:16", raw=True, private=Privacy.DM)
    channel = Defaults(count=2, suffix="in ink")

    async def save(tx: Transaction) -> None:
        await tx.defaults.put(1, "member", 42, mine, at=1.0)
        await tx.defaults.put(1, "channel", 42, channel, at=1.0)

    await store.run(save)

    async def read(tx: Transaction) -> tuple[Defaults, Defaults, Defaults]:
        return (
            await tx.defaults.get(1, "member", 42),
            await tx.defaults.get(1, "channel", 42),
            await tx.defaults.get(2, "member", 42),
        )

    assert await store.run(read) == (mine, channel, Defaults())

    async def clear(tx: Transaction) -> None:
        await tx.defaults.put(1, "member", 42, Defaults(), at=2.0)

    await store.run(clear)
    assert (await store.run(read))[0] == Defaults()


async def test_a_members_jobs_come_a_page_at_a_time_newest_first(store: Store) -> None:
    async def make(tx: Transaction) -> None:
        for n in range(7):
            for user in (5, 6):
                await tx.jobs.insert(
                    guild_id=1,
                    user_id=user,
                    channel_id=3,
                    age_restricted=False,
                    request=GenerationRequest(prompt=f"job {n}"),
                    hold=0,
                    context={},
                    at=float(n),
                )

    await store.run(make)

    async def page(tx: Transaction, number: int) -> tuple[list[Job], int]:
        return await tx.jobs.page_of_user(1, 5, offset=(number - 1) * 3, limit=3)

    first, total = await store.run(lambda tx: page(tx, 1))
    assert total == 7
    assert [j.request.prompt for j in first] == ["job 6", "job 5", "job 4"]
    last, _ = await store.run(lambda tx: page(tx, 3))
    assert [j.request.prompt for j in last] == ["job 0"]
    assert all(j.user_id == 5 for j in first + last)
