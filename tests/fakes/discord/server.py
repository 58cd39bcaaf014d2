"""FakeDiscord: one aiohttp server on 127.0.0.1 with the REST API, the gateway and the CDN."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import discord
import yarl
from aiohttp import web

from .commands import FileSpec, command_json, slash_data
from .dms import DirectMessages
from .gateway import INTENT_GUILD_MESSAGES, GatewaySession, gateway_handler
from .modals import MemberActions
from .models import (
    MAX_REQUEST,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    MiB,
    Via,
    guess_type,
)
from .render import interaction_create_json, message_json, user_json
from .rest import API, BotRoutes, guarded, not_served
from .webhooks import InteractionRoutes

T = TypeVar("T")


class FakeDiscord(MemberActions):
    """A local Discord for the real discord.py client; see the package docstring."""

    def __init__(self, *, check_schemas: bool = True) -> None:
        self.check_schemas = check_schemas
        self.started_at = time.time()
        self._offset = 0.0
        self._last_id = 0
        self.application_id = self.new_id()
        self.bot_user_id = self.application_id  # as for every bot created since 2020
        self.app_owner_id = self.new_id()
        self.bot_name = "imagine-bot"
        self.application_flags = (1 << 19) | (1 << 23)  # message content (limited), cmd badge
        encoded = base64.b64encode(str(self.bot_user_id).encode()).decode().rstrip("=")
        self.token = f"{encoded}.fake.{secrets.token_urlsafe(27)}"
        self.guilds: dict[int, FakeGuild] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.by_token: dict[str, FakeInteraction] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.command_syncs = 0
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, int]] = []
        self.sessions: list[GatewaySession] = []
        self._messages: list[FakeMessage] = []
        self._by_id: dict[int, FakeMessage] = {}
        self._changed = asyncio.Event()
        self._watchers: dict[int | None, dict[asyncio.Future[FakeMessage], Callable]] = {}
        self._runner: web.AppRunner | None = None
        self.dms = DirectMessages(self)
        self.url = self.api_base = ""
        self.gateway = yarl.URL("ws://127.0.0.1/gateway")

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=MAX_REQUEST + 8 * MiB, middlewares=[self._log])

        async def gateway(request: web.Request) -> web.StreamResponse:
            return await gateway_handler(self, request)

        async def fallback(request: web.Request) -> web.StreamResponse:
            return await not_served(self, request)

        app.router.add_get("/gateway", gateway)
        BotRoutes(self).add_to(app)
        self.dms.add_to(app, lambda h: guarded(self, h))
        InteractionRoutes(self).add_to(app)
        app.router.add_route("*", API + "/{tail:.*}", fallback)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.api_base = self.url + API
        self.gateway = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
        return self

    async def close(self) -> None:
        for session in list(self.sessions):
            await session.ws.close(code=1001, message=b"fake Discord closing")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.contextmanager
    def pointed(self) -> Iterator[None]:
        """Point discord.py's REST base and gateway at this fake, restoring them afterwards."""
        route, socket = discord.http.Route, discord.gateway.DiscordWebSocket
        saved = route.BASE, socket.DEFAULT_GATEWAY
        route.BASE, socket.DEFAULT_GATEWAY = self.api_base, self.gateway
        try:
            yield
        finally:
            route.BASE, socket.DEFAULT_GATEWAY = saved

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        token = request.match_info.get("token")
        path = request.path.replace(token, "{token}") if token else request.path
        self.requests.append((request.method, path, response.status))
        return response

    # -- clock, ids, change notification ---------------------------------------------------

    def now(self) -> float:
        """The fake clock: wall time plus everything ``advance`` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake clock (interaction tokens age by it) without sleeping."""
        self._offset += seconds

    def new_id(self) -> int:
        moment = datetime.fromtimestamp(self.now(), UTC)
        self._last_id = max(discord.utils.time_snowflake(moment), self._last_id + 1)
        return self._last_id

    def bump(self) -> None:
        """Wake everything waiting in ``wait_for``, ``wait_ready``, ``wait_violation``."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        async def watch() -> T:
            while True:
                found = check()
                if found is not None:
                    return found
                await self._changed.wait()

        try:
            return await asyncio.wait_for(watch(), timeout)
        except TimeoutError:
            raise TimeoutError(f"fake Discord: no {what} within {timeout} s") from None

    def violate(self, route: str, reason: str) -> None:
        self.violations.append(f"{route}: {reason}")
        self.bump()

    async def wait_violation(self, match: str = "", timeout: float = 10) -> str:
        """The first violation containing ``match``, once there is one."""
        found = lambda: next((v for v in self.violations if match in v), None)  # noqa: E731
        return await self._until(found, timeout, f"violation matching {match!r}")

    # -- world -------------------------------------------------------------------------------

    def add_guild(self, name: str, *, owner_id: int) -> FakeGuild:
        guild = FakeGuild(self.new_id(), name, owner_id, self.new_id)
        guild.add_member(self.bot_user_id, self.bot_name, bot=True)
        guild.add_member(owner_id, f"owner{owner_id}")
        self.guilds[guild.id] = guild
        return guild

    @property
    def channels(self) -> dict[int, FakeChannel]:
        return {c.id: c for g in self.guilds.values() for c in g.channels.values()}

    def user_json(self, user_id: int) -> dict[str, Any]:
        for guild in self.guilds.values():
            if user_id in guild.members:
                member = guild.members[user_id]
                return user_json(user_id, member.name, bot=member.bot)
        return user_json(user_id, f"user{user_id}")

    def bot_user_json(self) -> dict[str, Any]:
        data = user_json(self.bot_user_id, self.bot_name, bot=True)
        return {**data, "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}

    def command_json(self, sent: dict, guild_id: int | None, command_id: str | None) -> dict:
        return command_json(self, sent, guild_id, command_id)

    async def wait_ready(self, timeout: float = 10, *, after: int = 0) -> None:
        """Until a client identified and got READY and every GUILD_CREATE (a client that
        connected after the first ``after`` sessions, when given)."""
        ready = lambda: True if any(s.live for s in self.sessions[after:]) else None  # noqa: E731
        await self._until(ready, timeout, "client READY")

    # -- messages ----------------------------------------------------------------------------

    def store_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        sent_type: str | None,
        description: str | None = None,
        *,
        ephemeral: bool = False,
    ) -> FakeAttachment:
        ident = self.new_id()
        url = f"{self.url}/attachments/{channel_id}/{ident}/{quote(filename)}"
        ctype = guess_type(filename, sent_type)
        stored = FakeAttachment(ident, filename, data, ctype, url, description, ephemeral)
        self.attachments[ident] = stored
        return stored

    def new_message(
        self, channel: FakeChannel, *, via: Via, type: int, inter: FakeInteraction | None = None
    ) -> FakeMessage:
        """A message not yet stored (``add_message`` stores it once the request is accepted)."""
        return FakeMessage(
            id=self.new_id(),
            channel_id=channel.id,
            guild_id=channel.guild.id,
            author_id=self.bot_user_id,
            via=via,
            created_at=self.now(),
            type=type,
            interaction=inter,
            webhook_id=self.application_id if inter is not None else None,
        )

    def find_message(self, message_id: int) -> FakeMessage | None:
        return self._by_id.get(message_id)

    def messages(self, channel: FakeChannel | int | None = None) -> list[FakeMessage]:
        """Every message, live and deleted, in creation order; of one channel if given."""
        if channel is None:
            return list(self._messages)
        channel_id = channel if isinstance(channel, int) else channel.id
        return [m for m in self._messages if m.channel_id == channel_id]

    async def wait_for(
        self,
        predicate: Callable[[FakeMessage], bool],
        timeout: float = 10,
        *,
        message_id: int | None = None,
    ) -> FakeMessage:
        """The first message (in creation order) that matches now or after a create or edit;
        only the message ``message_id`` if given.

        A waiter is checked against each message as it changes, not against every message
        on every change: a benchmark waiting on hundreds of results stays cheap.
        """
        if message_id is not None:
            known = self._by_id.get(message_id)
            found = known if known is not None and predicate(known) else None
        else:
            found = next((m for m in self._messages if predicate(m)), None)
        if found is not None:
            return found
        future: asyncio.Future[FakeMessage] = asyncio.get_running_loop().create_future()
        watchers = self._watchers.setdefault(message_id, {})
        watchers[future] = predicate
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"fake Discord: no matching message within {timeout} s") from None
        finally:
            del watchers[future]

    def _changed_message(self, msg: FakeMessage) -> None:
        self.bump()
        for key in (None, msg.id):
            for future, predicate in self._watchers.get(key, {}).items():
                if not future.done() and predicate(msg):
                    future.set_result(msg)

    async def add_message(self, msg: FakeMessage) -> None:
        self._messages.append(msg)
        self._by_id[msg.id] = msg
        self._changed_message(msg)
        await self._broadcast("MESSAGE_CREATE", msg)

    async def message_changed(self, msg: FakeMessage) -> None:
        self._changed_message(msg)
        await self._broadcast("MESSAGE_UPDATE", msg)

    async def delete_message(self, msg: FakeMessage) -> None:
        msg.deleted = True
        self._changed_message(msg)
        data = {"id": str(msg.id), "channel_id": str(msg.channel_id), "guild_id": str(msg.guild_id)}
        await self._broadcast("MESSAGE_DELETE", msg, data)

    async def _broadcast(self, event: str, msg: FakeMessage, data: dict | None = None) -> None:
        if msg.ephemeral:
            return  # ephemeral messages never reach the gateway
        listening = [s for s in self.sessions if s.live and s.intents & INTENT_GUILD_MESSAGES]
        if listening and data is None:
            data = {**message_json(self, msg), "guild_id": str(msg.guild_id)}
        for session in listening:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.dispatch(event, data)

    # -- interactions ------------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        *,
        guild: FakeGuild,
        channel: FakeChannel,
        user_id: int,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] = (),
        attachments: Sequence[FileSpec] = (),
        subcommand: str | None = None,
        group: str | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs ``/name``: INTERACTION_CREATE type 2 goes to the connected client.

        ``locale`` is the member's Discord language (Discord sends it with every interaction).
        """
        if isinstance(options, Sequence) and not options:
            options = {}
        data = slash_data(
            self, guild, channel, name, options, attachments, subcommand, group, user_id
        )
        return await self._interact(2, guild, channel, user_id, data, None, locale)

    async def click(
        self, message: FakeMessage, custom_id: str, *, user_id: int, locale: str = "en-US"
    ) -> FakeInteraction:
        """A user clicks the button ``custom_id`` of ``message``: INTERACTION_CREATE type 3."""
        if custom_id not in message.custom_ids():
            raise ValueError(f"message {message.id} has no component {custom_id!r}")
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted")
        channel = self.channels[message.channel_id]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, channel.guild, channel, user_id, data, message, locale)

    async def _interact(
        self,
        kind: int,
        guild: FakeGuild,
        channel: FakeChannel,
        user_id: int,
        data: dict[str, Any],
        message: FakeMessage | None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        session = next((s for s in reversed(self.sessions) if s.live), None)
        if session is None:
            raise RuntimeError("no client is connected and READY: await fake.wait_ready() first")
        if user_id not in guild.members:
            guild.add_member(user_id, f"user{user_id}")
        inter = FakeInteraction(
            id=self.new_id(),
            token="aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96),
            type=kind,
            guild=guild,
            channel=channel,
            user_id=user_id,
            payload={},
            created_at=self.now(),
            dispatched=0.0,
            message=message,
            locale=locale,
        )
        inter.payload = interaction_create_json(self, inter, data)
        self.interactions[inter.id] = inter
        self.by_token[inter.token] = inter
        inter.dispatched = time.monotonic()
        await session.dispatch("INTERACTION_CREATE", inter.payload)
        return inter
