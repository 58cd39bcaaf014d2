"""The gateway: plain JSON text frames, HELLO, heartbeats, IDENTIFY, READY, GUILD_CREATE."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from .render import guild_create_json, member_json

if TYPE_CHECKING:
    from .server import FakeDiscord

HEARTBEAT_INTERVAL_MS = 41_250
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9

# Opcodes
DISPATCH, HEARTBEAT, IDENTIFY, RESUME, REQUEST_MEMBERS = 0, 1, 2, 6, 8
INVALID_SESSION, HELLO, HEARTBEAT_ACK = 9, 10, 11


@dataclass(eq=False)
class GatewaySession:
    """One websocket connection from a client."""

    ws: web.WebSocketResponse
    session_id: str = field(default_factory=lambda: secrets.token_hex(16))
    seq: int = 0
    intents: int = 0
    ready: bool = False
    heartbeats: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def live(self) -> bool:
        return self.ready and not self.ws.closed

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        async with self._lock:
            frame: dict[str, Any] = {"op": op, "d": data, "s": None, "t": event}
            if op == DISPATCH:
                self.seq += 1
                frame["s"] = self.seq
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(frame))

    async def dispatch(self, event: str, data: Any) -> None:
        await self.send(DISPATCH, data, event)


async def gateway_handler(fake: FakeDiscord, request: web.Request) -> web.WebSocketResponse:
    """Serve one client: HELLO, then answer heartbeats and IDENTIFY until it goes."""
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    session = GatewaySession(ws)
    fake.sessions.append(session)
    if request.query.get("encoding", "json") != "json":
        fake.violate("GATEWAY", f"encoding {request.query['encoding']!r}: only json is served")
    try:
        await session.send(HELLO, {"heartbeat_interval": HEARTBEAT_INTERVAL_MS})
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                if msg.type is aiohttp.WSMsgType.BINARY:
                    fake.violate("GATEWAY", "binary frame from the client: send JSON text")
                continue
            frame = json.loads(msg.data)
            await _on_frame(fake, session, frame)
    finally:
        with contextlib.suppress(ValueError):
            fake.sessions.remove(session)
        fake.bump()
    return ws


async def _on_frame(fake: FakeDiscord, session: GatewaySession, frame: dict[str, Any]) -> None:
    op, data = frame.get("op"), frame.get("d")
    if op == HEARTBEAT:
        session.heartbeats += 1
        await session.send(HEARTBEAT_ACK, None)
    elif op == IDENTIFY:
        if not isinstance(data, dict) or data.get("token") != fake.token:
            fake.violate("GATEWAY IDENTIFY", "wrong token: closed with 4004")
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        session.intents = int(data.get("intents") or 0)
        await _ready(fake, session)
    elif op == RESUME:
        # Sessions do not survive here: ask for a fresh IDENTIFY, as Discord does for old ones.
        await session.send(INVALID_SESSION, False)
    elif op == REQUEST_MEMBERS and isinstance(data, dict):
        await _members_chunk(fake, session, data)


async def _members_chunk(fake: FakeDiscord, session: GatewaySession, data: dict[str, Any]) -> None:
    """Answer a member request (sent when the client chunks guilds) in a single chunk."""
    guild = fake.guilds.get(int(data.get("guild_id") or 0))
    if guild is None:
        return
    ids = {int(i) for i in data.get("user_ids") or []}
    query = (data.get("query") or "").lower()
    members = [
        member_json(guild, m, fake.started_at)
        for m in guild.members.values()
        if (not ids or m.user_id in ids) and m.name.lower().startswith(query)
    ]
    chunk: dict[str, Any] = {
        "guild_id": str(guild.id),
        "members": members[: data.get("limit") or None],
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": [],
    }
    if data.get("nonce") is not None:
        chunk["nonce"] = data["nonce"]
    await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)


async def _ready(fake: FakeDiscord, session: GatewaySession) -> None:
    gateway = str(fake.gateway)
    await session.dispatch(
        "READY",
        {
            "v": 10,
            "user": fake.bot_user_json(),
            "guilds": [{"id": str(g), "unavailable": True} for g in fake.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": gateway,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "_trace": ["fake-discord"],
        },
    )
    all_members = bool(session.intents & INTENT_GUILD_MEMBERS)
    for guild in list(fake.guilds.values()):
        await session.dispatch(
            "GUILD_CREATE", guild_create_json(fake, guild, all_members=all_members)
        )
    session.ready = True
    fake.bump()
