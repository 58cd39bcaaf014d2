"""The real bot (discord.py, pipeline, SQLite) against a fake Discord and fake providers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver
from pydantic import SecretStr

from bot.app import Service, open_service
from bot.providers.polling import PollTuning
from bot.settings import PROVIDER_VARIABLES, Settings
from cogs.client import ImagineBot
from cogs.launcher import build_client
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeGuild, FakeInteraction, FakeMessage
from tests.fakes.providers import FAKES, trust_for
from tests.fakes.providers.base import FakeProviderServer

OWNER, ALICE, BOB, MOD = 1001, 1002, 1003, 1004
ADMIN, ROLE_MOD, CAROL = 1005, 1006, 1007  # CAROL belongs to the other guild only
MANAGE_GUILD, ADMINISTRATOR = 1 << 5, 1 << 3


@dataclass
class Rig:
    """Discord, providers and a running bot; ``restart()`` replaces the bot process-wise."""

    fake: FakeDiscord
    guild: FakeGuild
    channel: FakeChannel
    adult: FakeChannel
    providers: dict[str, FakeProviderServer]
    settings: Settings
    other: FakeGuild | None = None
    other_channel: FakeChannel | None = None
    mod_role: int | None = None
    bot: ImagineBot | None = None
    service: Service | None = None
    _stack: contextlib.AsyncExitStack | None = None
    _task: asyncio.Task[None] | None = None
    clock_offset: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    resolver: AbstractResolver | None = None  # replaces DNS under the bot's address guard

    async def start(self) -> None:
        """Open the service on the database and connect a new bot."""
        self._stack = contextlib.AsyncExitStack()
        self.service = await self._stack.enter_async_context(
            open_service(self.settings, resolver=self.resolver)
        )
        for provider in self.service.core.router.providers.values():
            provider.polling = PollTuning().scaled(0.01)
        self.bot = build_client(
            self.service,
            dev_guild_id=self.guild.id,
            guild_ready_timeout=0.1,
            clock=lambda: _now(self),
        )
        self._task = asyncio.create_task(self.bot.start(self.fake.token))
        await self.fake.wait_ready()

    async def stop(self) -> None:
        """Close the bot (clean shutdown) and the service."""
        assert self.bot is not None
        assert self._stack is not None
        await self.bot.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
        await self._stack.aclose()
        self.bot = self.service = self._stack = self._task = None

    async def restart(self) -> None:
        """Stop and start again on the same database, as after a redeploy."""
        await self.stop()
        await self.start()

    def advance(self, seconds: float) -> None:
        """Move Discord's clock and the bot's view of it (the interaction token's life)."""
        self.fake.advance(seconds)
        self.clock_offset += seconds

    async def imagine(
        self, user: int = ALICE, channel: FakeChannel | None = None, **options: Any
    ) -> FakeInteraction:
        """Type /imagine; returns once the interaction was acknowledged."""
        options.setdefault("prompt", "a lighthouse at dusk")
        interaction = await self.fake.slash(
            "imagine",
            guild=self.guild,
            channel=channel or self.channel,
            user_id=user,
            options=options,
        )
        await interaction.acknowledged()
        return interaction

    async def outcome(self, interaction: FakeInteraction, timeout: float = 15) -> FakeMessage:
        """How the job ended for the member: the status message turned into the result, or
        the private message that replaced it (the status itself is then deleted)."""
        original = interaction.original
        assert original is not None, "the interaction was not deferred"

        def settled(message: FakeMessage) -> bool:
            if message.id == original.id:
                return not message.loading and bool(message.attachments)
            return message.ephemeral and any(f.id == message.id for f in interaction.followups)

        return await self.fake.wait_for(settled, timeout)

    async def balance(self, user: int = ALICE) -> int:
        """The member's available credits once every job has settled."""
        assert self.service is not None
        await self.service.pipeline.drain()
        return (await self.service.pipeline.balance(self.guild.id, user)).available


def _now(rig: Rig) -> float:
    return time.time() + rig.clock_offset


def settings_for(
    tmp: Path, fake: FakeDiscord, providers: dict[str, FakeProviderServer], **extra: Any
) -> Settings:
    """Settings pointing every given provider at its fake, in the given order.

    The fakes' media hosts and the fake Discord's CDN are trusted as an operator would list
    them in TRUSTED_HOSTS (``also_trust`` adds more origins); nothing else on 127.0.0.1 is.
    """
    also_trust = extra.pop("also_trust", ())
    values: dict[str, Any] = {
        "discord_token": SecretStr(fake.token),
        "database_path": tmp / "bot.db",
        "provider_order": tuple(providers),
        "status_edit_seconds": 1.0,
        "daily_allowance": 60,
        "guild_jobs_per_minute": 600.0,
        "log_level": "WARNING",
    }
    for name, server in providers.items():
        key_var, url_var = PROVIDER_VARIABLES[name]
        values[key_var.lower()] = SecretStr(server.api_key)
        values[url_var.lower()] = FAKES[name].base_url(server)
    trust = trust_for(providers, fake.url, *also_trust)
    values.update({k.lower(): v for k, v in trust.items()})
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


RigFactory = Callable[..., Any]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """Build a world with the named provider fakes and a running bot; tear it all down."""
    stack = contextlib.AsyncExitStack()
    rigs: list[Rig] = []

    async def build(
        *names: str,
        latency: float = 0.05,
        resolver: AbstractResolver | None = None,
        **extra: Any,
    ) -> Rig:
        fake = await stack.enter_async_context(FakeDiscord())
        guild = fake.add_guild("Art club", owner_id=OWNER)
        channel = guild.add_channel("gallery")
        adult = guild.add_channel("after-dark", nsfw=True)
        for user, name in ((ALICE, "alice"), (BOB, "bob")):
            guild.add_member(user, name)
        guild.add_member(MOD, "mod", permissions=MANAGE_GUILD)
        guild.add_member(ADMIN, "admin", permissions=ADMINISTRATOR)
        mod_role = guild.add_role("moderators", permissions=0)
        guild.add_member(ROLE_MOD, "rolemod", roles=[mod_role])
        other = fake.add_guild("Other club", owner_id=OWNER + 100)
        other_channel = other.add_channel("elsewhere")
        other.add_member(CAROL, "carol", permissions=ADMINISTRATOR | MANAGE_GUILD)
        other.add_member(ALICE, "alice")
        providers = {}
        for name in names or ("fal",):
            providers[name] = await stack.enter_async_context(FAKES[name].cls(latency=latency))
        rig = Rig(
            fake,
            guild,
            channel,
            adult,
            providers,
            settings_for(tmp_path, fake, providers, **extra),
            other=other,
            other_channel=other_channel,
            mod_role=mod_role,
            resolver=resolver,
        )
        stack.enter_context(fake.pointed())
        await rig.start()
        rigs.append(rig)
        return rig

    yield build
    for rig in rigs:
        if rig.bot is not None:
            await rig.stop()
    await stack.aclose()
    for rig in rigs:
        assert rig.fake.violations == [], rig.fake.violations
