"""One bot process per SQLite database: the real ``imagine-bot run``, started twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.settings import PROVIDER_VARIABLES
from tests.cogs.conftest import ALICE, OWNER
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.fakes.providers import FAKES, trust_for
from tests.fakes.providers.base import FakeProviderServer

ROOT = Path(__file__).parents[2]


class World:
    """A fake Discord with one guild, a fake fal, and how to start the bot against them."""

    def __init__(self, fake: FakeDiscord, fal: FakeProviderServer, guild: FakeGuild, db: Path):
        self.fake, self.fal, self.guild, self.db = fake, fal, guild, db

    def env(self) -> dict[str, str]:
        key_var, url_var = PROVIDER_VARIABLES["fal"]
        return {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_URL": self.fake.url,
            "DISCORD_TOKEN": self.fake.token,
            key_var: self.fal.api_key,
            url_var: FAKES["fal"].base_url(self.fal),
            **trust_for({"fal": self.fal}),
            "DATABASE_PATH": str(self.db),
            "DISCORD_DEV_GUILD_ID": str(self.guild.id),
            "LOG_LEVEL": "WARNING",
        }

    async def start(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fakes.bot_process",
            cwd=self.db.parent.parent,
            env=self.env(),
            stderr=asyncio.subprocess.PIPE,
        )

    async def generate(self) -> None:
        """One /imagine through whichever bot is connected, to its result."""
        channel = next(iter(self.guild.channels.values()))
        asked = await self.fake.slash(
            "imagine", guild=self.guild, channel=channel, user_id=ALICE, options={"prompt": "x"}
        )
        await asked.acknowledged()
        status = asked.original
        assert status is not None
        await self.fake.wait_for(lambda m: bool(m.attachments), message_id=status.id, timeout=30)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeDiscord())
        fal = await stack.enter_async_context(FAKES["fal"].cls(latency=0.05))
        guild = fake.add_guild("Art club", owner_id=OWNER)
        guild.add_channel("gallery")
        guild.add_member(ALICE, "alice")
        yield World(fake, fal, guild, tmp_path / "data" / "bot.db")


async def stopped(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> str:
    if process.returncode is None:
        process.send_signal(sig)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    return err.decode()


async def test_a_second_process_on_the_same_database_refuses_in_one_line(world: World) -> None:
    first = await world.start()
    try:
        await world.fake.wait_ready(timeout=30)
        second = await world.start()
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2
        line = err.decode().strip()
        assert "\n" not in line and "Traceback" not in line, line
        assert line == (
            f"imagine-bot: another imagine-bot (pid {first.pid}) is already running on "
            f"{world.db}; only one process may use a SQLite database: stop that one first, or "
            "give this one its own DATABASE_PATH"
        )
        assert len(world.fake.sessions) == 1, "the second never connected to Discord"
        await world.generate()  # the first is unharmed
        assert first.returncode is None
    finally:
        err = await stopped(first)
    assert first.returncode == 0, err[-2000:]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_the_lock_goes_with_the_process_however_it_ends(world: World, how: int) -> None:
    first = await world.start()
    await world.fake.wait_ready(timeout=30)
    await stopped(first, how)
    assert world.db.with_name("bot.db.lock").exists(), "the file stays; the lock does not"
    sessions = len(world.fake.sessions)
    again = await world.start()
    try:
        await world.fake.wait_ready(timeout=30, after=sessions)
        await world.generate()
    finally:
        err = await stopped(again)
    assert again.returncode == 0, err[-2000:]
