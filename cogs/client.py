"""The Discord client: built from the service, loads the cogs, starts and stops cleanly.

``setup_hook`` (after login, before the gateway) loads the cogs, registers the
buttons that survive restarts, syncs slash commands only if their definition
changed since the last sync, and starts the pipeline, which resumes unfinished jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
from typing import TYPE_CHECKING, cast

import aiohttp
import discord
from discord.ext import commands

from bot.app import Service, open_service
from bot.settings import Settings
from cogs.delivery import DiscordEvents
from cogs.errors import on_app_command_error
from cogs.views import JobButton

if TYPE_CHECKING:
    from cogs.imagine import Imagine

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.imagine", "cogs.account", "cogs.mod", "cogs.admin")
SHUTDOWN_GRACE = 10.0
DISCORD_CONNECTIONS = 64


class ImagineBot(commands.Bot):
    """The bot: a discord.py client holding the service it was given."""

    def __init__(
        self, service: Service, *, dev_guild_id: int | None = None, guild_ready_timeout: float = 2.0
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            # discord.py's default pool is unbounded: a burst of interactions would open a
            # connection (a TLS handshake, on the real Discord) per concurrent request.
            connector=aiohttp.TCPConnector(limit=DISCORD_CONNECTIONS),
        )
        self.service = service
        self.pipeline = service.pipeline
        self.dev_guild_id = dev_guild_id
        self.events = DiscordEvents(self, edit_every=service.core.settings.status_edit_seconds)
        self.tree.on_error = on_app_command_error

    @property
    def imagine_cog(self) -> Imagine:
        """The cog that owns what buttons do (loaded as an extension, so looked up by name)."""
        return cast("Imagine", self.get_cog("Imagine"))

    async def setup_hook(self) -> None:
        """Load cogs and buttons, sync commands if they changed, resume the pipeline."""
        self.pipeline.attach(self.events)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(JobButton)
        await self.sync_commands()
        await self.pipeline.start()
        self.events.start()

    async def sync_commands(self) -> bool:
        """Sync slash commands only when their definition changed (Discord limits creates)."""
        guild = discord.Object(self.dev_guild_id) if self.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        scope = f"commands:{self.dev_guild_id or 'global'}"
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        if await self.service.recall(scope) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        await self.tree.sync(guild=guild)
        await self.service.remember(scope, digest)
        log.info("slash commands synced (%s)", scope)
        return True

    async def close(self) -> None:
        """Stop taking jobs, let submits in flight land, leave the rest to the next start."""
        await self.events.stop()
        await self.pipeline.stop(grace=SHUTDOWN_GRACE)
        await super().close()


async def run(settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT or a fatal error; the exit code."""
    assert settings.discord_token is not None
    async with open_service(settings) as service:
        bot = ImagineBot(service, dev_guild_id=settings.discord_dev_guild_id)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with bot:
            runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({runner, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done and runner.exception() is not None:
                stopping.cancel()
                error = runner.exception()
                if isinstance(error, discord.LoginFailure):
                    log.error("Discord refused DISCORD_TOKEN: %s", error)
                    return 2
                raise error  # type: ignore[misc]
            log.info("shutting down: no new jobs; unfinished ones resume at the next start")
            await bot.close()
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
    return 0
