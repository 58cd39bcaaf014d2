"""The Discord client: holds the parts the launcher gave it, starts and stops them cleanly.

``setup_hook`` (after login, before the gateway) adds the cogs and the buttons that survive
restarts, syncs slash commands only if their definition changed since the last sync, and
starts the pipeline, which resumes unfinished jobs. The client knows no cog by name: the
launcher (``cogs.launcher``) builds them and hands them over as ``Parts``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.pipeline.facade import Facade
from cogs.delivery import DiscordEvents
from cogs.errors import on_app_command_error
from cogs.i18n import CommandTranslator
from cogs.render import NO_MENTIONS

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0
DISCORD_CONNECTIONS = 64


@dataclass(frozen=True)
class Parts:
    """What the launcher hands the client: the pipeline's events as Discord shows them, the
    cogs, and the buttons that must answer clicks on messages sent before a restart."""

    events: DiscordEvents
    cogs: Sequence[commands.Cog]
    buttons: Sequence[type[discord.ui.DynamicItem[Any]]]


class ImagineBot(commands.Bot):
    """The bot: a discord.py client over the facade, with the parts ``assemble`` builds for it."""

    def __init__(
        self,
        facade: Facade,
        assemble: Callable[[ImagineBot], Parts],
        *,
        dev_guild_id: int | None = None,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
            # discord.py's default pool is unbounded: a burst of interactions would open a
            # connection (a TLS handshake, on the real Discord) per concurrent request.
            connector=aiohttp.TCPConnector(limit=DISCORD_CONNECTIONS),
        )
        self.facade = facade
        self.dev_guild_id = dev_guild_id
        self.tree.error(on_app_command_error)
        self.parts = assemble(self)
        self._pipeline_started = False

    async def add_parts(self) -> None:
        """Add the cogs (their commands join the tree) and the buttons."""
        for cog in self.parts.cogs:
            await self.add_cog(cog)
        self.add_dynamic_items(*self.parts.buttons)

    async def setup_hook(self) -> None:
        """Add cogs and buttons, sync commands if they changed, resume the pipeline."""
        self.facade.attach(self.parts.events)
        await self.tree.set_translator(CommandTranslator())
        await self.add_parts()
        await self.sync_commands()
        await self.facade.start()
        self._pipeline_started = True
        self.parts.events.start()

    async def sync_commands(self) -> bool:
        """Sync slash commands only when their definition changed (Discord limits creates)."""
        guild = discord.Object(self.dev_guild_id) if self.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        scope = f"commands:{self.dev_guild_id or 'global'}"
        commands = self.tree.get_commands(guild=guild)
        translator = self.tree.translator
        # With their translations: a changed catalogue is a changed definition.
        payload = [
            await c.get_translated_payload(self.tree, translator)
            if translator is not None
            else c.to_dict(self.tree)
            for c in commands
        ]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        if await self.facade.recall(scope) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        await self.tree.sync(guild=guild)
        await self.facade.remember(scope, digest)
        log.info("slash commands synced (%s)", scope)
        return True

    async def close(self) -> None:
        """Stop taking jobs, let submits in flight land, leave the rest to the next start."""
        await self.parts.events.stop()
        if self._pipeline_started:  # a login that failed leaves the pipeline to the next one
            self._pipeline_started = False
            await self.facade.stop(grace=SHUTDOWN_GRACE)
        await super().close()
