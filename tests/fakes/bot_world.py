"""The real bot process between a fake Discord and fake providers, killed and started at will.

Shared by the fault-injection tests (tests/cogs/test_faults.py) and ``bench/faults.py``.
``BotWorld`` runs ``imagine-bot run`` in its own process with the environment an operator
would set; members type /imagine (one member per job, so no member limit interferes);
the bot can be SIGKILLed at any moment and started again on the same database. What the
bot recorded is then checked against the fakes by ``tests.fakes.audit``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.settings import PROVIDER_VARIABLES
from tests.fakes.audit import UNFINISHED
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.providers import FAKES, trust_for
from tests.fakes.providers.base import FakeProviderServer

ROOT = Path(__file__).parents[2]
OWNER = 9_000_001
FIRST_MEMBER = 20_000_000
# Every server and member limit out of the way: each job here is one member's only job.
ROOMY = {
    "GUILD_MAX_RUNNING": "200",
    "GUILD_MAX_QUEUED": "200",
    "GUILD_JOBS_PER_MINUTE": "60000",
    "GUILD_BURST": "200",
    "LOG_LEVEL": "WARNING",
}


class BotDied(RuntimeError):
    """The bot process ended when nobody stopped it."""


class BotWorld:
    """One fake Discord server, fake providers in PROVIDER_ORDER, and the bot process."""

    def __init__(
        self,
        fake: FakeDiscord,
        providers: Mapping[str, FakeProviderServer],
        folder: Path,
        **environment: str,
    ) -> None:
        self.fake = fake
        self.providers = dict(providers)
        self.folder = folder
        self.environment = environment
        self.guild = fake.add_guild("Fault lab", owner_id=OWNER)
        self.channel = self.guild.add_channel("gallery")
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.jobs: dict[str, FakeInteraction] = {}  # each job's /imagine, by its prompt
        self._members = itertools.count(FIRST_MEMBER)

    @property
    def db(self) -> Path:
        """The bot's database."""
        return self.folder / "bot.db"

    @property
    def log(self) -> Path:
        """Everything every run of the bot wrote to stderr."""
        return self.folder / "bot.log"

    def env(self) -> dict[str, str]:
        """The environment an operator running against these fakes would set."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "FAKE_DISCORD_URL": self.fake.url,
            "DISCORD_TOKEN": self.fake.token,
            "DISCORD_DEV_GUILD_ID": str(self.guild.id),
            "DATABASE_PATH": str(self.db),
            "PROVIDER_ORDER": ",".join(self.providers),
            **trust_for(self.providers),
            **ROOMY,
        }
        for name, server in self.providers.items():
            key_var, url_var = PROVIDER_VARIABLES[name]
            env[key_var] = server.api_key
            env[url_var] = FAKES[name].base_url(server)
        env.update(self.environment)
        return env

    async def start(self) -> None:
        """Start the bot and wait until it is connected and ready."""
        sessions = len(self.fake.sessions)
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.fakes.bot_process",
                cwd=self.folder,
                env=self.env(),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        self.starts += 1
        ready = asyncio.ensure_future(self.fake.wait_ready(timeout=120, after=sessions))
        died = asyncio.ensure_future(self.process.wait())
        await asyncio.wait({ready, died}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise BotDied(f"the bot exited with {self.process.returncode}: {self.tail()}")
        died.cancel()
        ready.result()

    async def kill(self) -> None:
        """SIGKILL the bot: no clean-up of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.kills += 1

    async def stop(self) -> None:
        """SIGTERM the bot and wait for a clean exit."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 60)
        if code != 0:
            raise BotDied(f"the bot exited with {code} on SIGTERM: {self.tail()}")

    async def close(self) -> None:
        """Kill the bot if it still runs (a test that failed half-way)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def tail(self, chars: int = 3000) -> str:
        """The end of the bot's stderr."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    async def imagine(self, prompt: str, **options: object) -> FakeInteraction:
        """A new member types /imagine with ``prompt`` (and ``options``, e.g. count); returns
        once the bot acknowledged it."""
        interaction = await self.fake.slash(
            "imagine",
            guild=self.guild,
            channel=self.channel,
            user_id=next(self._members),
            options={"prompt": prompt, **options},
        )
        await interaction.acknowledged(timeout=30)
        self.jobs[prompt] = interaction
        return interaction

    async def told(self, interaction: FakeInteraction, timeout: float = 60) -> FakeMessage:
        """How the job ended for its member: the status turned into the result, a result
        posted in the channel, or the private message that replaced the status."""
        original = interaction.original
        assert original is not None, "the interaction was not deferred"
        member = interaction.user_id

        def settled(message: FakeMessage) -> bool:
            if message.id == original.id:
                return not message.loading and bool(message.attachments)
            if message.ephemeral:
                return any(f.id == message.id for f in interaction.followups)
            return bool(message.attachments) and f"<@{member}>" in message.content

        return await self.fake.wait_for(settled, timeout)

    def statuses(self) -> Counter[str]:
        """How many jobs are in each status now (read while the bot writes)."""
        if not self.db.exists():
            return Counter()
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as conn:
                found = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                return Counter(dict(found.fetchall()))
        except sqlite3.OperationalError:
            return Counter()

    async def until(
        self, done: Callable[[Counter[str]], bool], what: str, timeout: float = 120
    ) -> None:
        """Until ``done(statuses)`` holds; BotDied if the bot exits meanwhile."""
        give_up = time.monotonic() + timeout
        while not done(self.statuses()):
            if self.process is not None and self.process.returncode is not None:
                raise BotDied(f"the bot exited with {self.process.returncode}: {self.tail()}")
            if time.monotonic() > give_up:
                raise TimeoutError(f"{what}: not within {timeout} s; jobs {dict(self.statuses())}")
            await asyncio.sleep(0.05)

    async def until_admitted(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` jobs are in the database (a kill no longer loses a typed command)."""
        await self.until(lambda s: sum(s.values()) >= count, f"{count} jobs admitted", timeout)

    async def until_all_ended(self, timeout: float = 120) -> None:
        """Until every job admitted so far has ended, delivered or refunded."""
        await self.until(
            lambda s: not any(s[status] for status in UNFINISHED), "every job ended", timeout
        )
