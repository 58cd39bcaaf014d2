"""Starts the bot: builds the Discord client over the service and hands it its parts.

This is the one module that knows every cog. It builds them with what each needs (the
facade, the client, the pipeline's events as Discord shows them) and gives them to the
client (``cogs.client``), so no cog imports the client. ``run`` is ``imagine-bot run``:
signals, the heartbeat, logging in with patience, and a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import discord

from bot import heartbeat
from bot.app import Service, open_service
from bot.explain import host_of, transport_reason
from bot.heartbeat import heartbeat_path
from bot.settings import Settings
from bot.startup import CONFIGURATION, StartupFailure, patiently
from cogs.account import Account
from cogs.admin import Administration
from cogs.client import ImagineBot, Parts
from cogs.delivery import DiscordEvents
from cogs.help import Help
from cogs.history import History
from cogs.image_actions import ImageActions
from cogs.imagine import Imagine
from cogs.mod import Moderation
from cogs.preferences import PrefButton, Preferences, PrefSelect
from cogs.remix import Remix
from cogs.starter import Starter
from cogs.views import JobButton

log = logging.getLogger(__name__)
T = TypeVar("T")


def build_client(
    service: Service,
    *,
    dev_guild_id: int | None = None,
    guild_ready_timeout: float = 2.0,
    clock: Callable[[], float] = time.time,
) -> ImagineBot:
    """The Discord client over ``service``, with every cog, the events and the buttons.

    ``clock`` is the events' wall clock (tests move it to age an interaction's token).
    """
    facade = service.facade
    edit_every = service.settings.status_edit_seconds

    def assemble(client: ImagineBot) -> Parts:
        events = DiscordEvents(client, facade, edit_every=edit_every, clock=clock)
        starter = Starter(facade, events)
        return Parts(
            events=events,
            cogs=(
                Imagine(client, facade, starter),
                Remix(facade, starter),
                Preferences(facade),
                ImageActions(client, facade, starter),
                History(facade),
                Account(facade),
                Moderation(facade),
                Administration(client, facade),
                Help(facade),
            ),
            buttons=(JobButton, PrefSelect, PrefButton),
        )

    return ImagineBot(
        facade, assemble, dev_guild_id=dev_guild_id, guild_ready_timeout=guild_ready_timeout
    )


async def run(settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT; the exit code (0 after a requested stop).

    Start-up problems raise StartupFailure (or StorageError for the database), each one
    line. A stop requested at any point of start-up ends it cleanly.
    """
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    beat = Pulse(heartbeat_path(settings.database_path))
    try:
        async with contextlib.AsyncExitStack() as stack:
            service = await _unless(stop, stack.enter_async_context(open_service(settings)))
            stack.push_async_callback(beat.stop)
            beat.start()
            await _unless(stop, service.check_providers())
            bot = await _unless(stop, _log_in(service, settings, token))
            beat.watch(bot)
            try:
                return await _serve(bot, stop)
            finally:
                await bot.close()
    except _Stopped:
        log.info("stopped during start-up; nothing was left half-done")
        return 0


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived during start-up."""


async def _unless(stop: asyncio.Event, step: Awaitable[T]) -> T:
    """Await ``step`` unless a stop is asked for first (then ``step`` is cancelled)."""
    task = asyncio.ensure_future(step)
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise _Stopped
    return task.result()


async def _log_in(service: Service, settings: Settings, token: str) -> ImagineBot:
    """Log in (and run setup_hook), trying again with backoff while Discord can't be reached."""

    async def attempt() -> ImagineBot:
        bot = build_client(service, dev_guild_id=settings.discord_dev_guild_id)
        try:
            await bot.login(token)
        except BaseException:
            await bot.close()
            raise
        return bot

    try:
        return await patiently(
            attempt, attempts=settings.startup_attempts, retryable=discord_unreachable
        )
    except discord.LoginFailure as exc:
        raise StartupFailure(
            "Discord refused DISCORD_TOKEN (401 Unauthorized): copy the bot's token again from "
            "https://discord.com/developers/applications (Bot → Reset Token) into DISCORD_TOKEN",
            exit_code=CONFIGURATION,
        ) from exc
    except discord.Forbidden as exc:
        where = (
            f"to the server DISCORD_DEV_GUILD_ID={settings.discord_dev_guild_id}"
            if settings.discord_dev_guild_id
            else "globally"
        )
        raise StartupFailure(
            f"Discord refused to register the slash commands {where} ({exc.status} "
            f"{exc.text or 'Forbidden'}): invite the bot with the applications.commands scope"
            + (
                " to that server, or unset DISCORD_DEV_GUILD_ID"
                if settings.discord_dev_guild_id
                else ""
            ),
            exit_code=CONFIGURATION,
        ) from exc
    except discord.HTTPException as exc:
        raise StartupFailure(
            f"Discord answered HTTP {exc.status} at start-up ({exc.text or 'no detail'}); "
            "try again later, and see https://discordstatus.com"
        ) from exc


def discord_unreachable(error: BaseException) -> str | None:
    """The one-line reason when Discord could not be reached (worth retrying), else None."""
    if isinstance(error, discord.DiscordServerError):
        reason: str | None = f"Discord answered HTTP {error.status}"
    elif isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
        reason = transport_reason(error) or type(error).__name__
    else:
        return None
    host = host_of(discord.http.Route.BASE)
    return f"could not reach Discord ({host}): {reason} — check the network and firewall"


async def _serve(bot: ImagineBot, stop: asyncio.Event) -> int:
    """Stay connected (discord.py reconnects by itself) until a stop is asked for."""
    runner = asyncio.create_task(bot.connect(reconnect=True))
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if runner in done:
        error = runner.exception()
        if error is None:
            return 0
        if isinstance(error, discord.ConnectionClosed) and error.code == 4004:
            raise StartupFailure(
                "Discord refused DISCORD_TOKEN on the gateway (4004): copy the bot's token again "
                "into DISCORD_TOKEN",
                exit_code=CONFIGURATION,
            ) from error
        if isinstance(error, discord.ConnectionClosed | discord.PrivilegedIntentsRequired):
            raise StartupFailure(f"Discord closed the gateway connection: {error}") from error
        raise error
    log.info("shutting down: no new jobs; unfinished ones resume at the next start")
    await bot.close()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner
    return 0


class Pulse:
    """Rewrites the heartbeat file while the bot runs: alive, and connected to Discord or not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bot: ImagineBot | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._since = time.time()
        self._failing = False
        self._poke = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        """Begin beating (the first beat at once)."""
        self._task = asyncio.create_task(self._loop(), name="heartbeat")

    def watch(self, bot: ImagineBot) -> None:
        """Follow this bot's connection; a change is written at once, not at the next beat."""
        self.bot = bot

        async def changed(*_: object) -> None:
            self._poke.set()

        for event in ("on_ready", "on_resumed", "on_disconnect"):
            bot.add_listener(changed, event)

    async def stop(self) -> None:
        """Stop beating and remove the file: a stopped bot leaves no fresh heartbeat."""
        if self._task is not None:
            # A flag, not cancel(): Python 3.11's wait_for can swallow a cancel that
            # arrives just as the wait ends (here, a disconnect during shutdown).
            self._stopping = True
            self._poke.set()
            await self._task
        with contextlib.suppress(OSError):
            heartbeat.remove(self.path)

    def beat(self, now: float) -> None:
        """Write one heartbeat."""
        bot = self.bot
        connected = bool(bot is not None and bot.is_ready() and not bot.is_closed())
        if connected != self._connected:
            self._connected, self._since = connected, now
        try:
            heartbeat.write(self.path, heartbeat.Beat(now, os.getpid(), connected, self._since))
        except OSError as exc:
            if not self._failing:
                log.warning("cannot write the heartbeat file %s: %s", self.path, exc)
            self._failing = True
        else:
            self._failing = False

    async def _loop(self) -> None:
        while not self._stopping:
            self.beat(time.time())
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(heartbeat.INTERVAL):
                    await self._poke.wait()
