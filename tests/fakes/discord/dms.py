"""Direct messages from the bot: open a DM channel, then post in it, as Discord does.

``POST /users/@me/channels {"recipient_id"}`` answers a DM channel (type 1); a message is
then posted with ``POST /channels/{dm}/messages``. A member in ``closed`` does not take
direct messages from the bot: Discord answers 403 code 50007 "Cannot send messages to this
user" (a normal answer, not a bot error, so it is not a violation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .bodies import DiscordError, read_body
from .models import FakeAttachment
from .render import attachment_json, iso
from .rest import API, json_response, validated

if TYPE_CHECKING:
    from .server import FakeDiscord


@dataclass
class DirectMessage:
    """One message the bot sent a member directly."""

    user_id: int
    content: str
    payload: dict[str, Any] = field(repr=False)
    files: list[FakeAttachment] = field(default_factory=list)

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.payload.get("embeds") or [])

    def custom_ids(self) -> list[str]:
        """Every button's ``custom_id``, row by row."""
        rows = self.payload.get("components") or []
        buttons = [c for row in rows for c in row.get("components", [])]
        return [c["custom_id"] for c in buttons if "custom_id" in c]


class DirectMessages:
    """The DM channels the bot opened and what it sent in them."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.channels: dict[int, int] = {}  # DM channel id -> member
        self.closed: set[int] = set()
        self.sent: list[DirectMessage] = []
        self._changed = asyncio.Event()

    def add_to(self, app: web.Application, guarded: Callable) -> None:
        """Register the route that opens a DM channel."""
        app.router.add_post(f"{API}/users/@me/channels", guarded(self.open))

    def owns(self, channel_id: str) -> bool:
        """Whether a channel id in a path is one of the DM channels."""
        return channel_id.isdigit() and int(channel_id) in self.channels

    async def open(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.fake.token}":
            raise DiscordError(401, 0, "401: Unauthorized", reason="missing or wrong bot token")
        body = await request.json()
        recipient = str(body.get("recipient_id", ""))
        if not recipient.isdigit():
            raise DiscordError(400, 50035, "Invalid Form Body", reason="recipient_id")
        user_id = int(recipient)
        channel_id = next((c for c, u in self.channels.items() if u == user_id), None)
        if channel_id is None:
            channel_id = self.fake.new_id()
            self.channels[channel_id] = user_id
        return json_response(
            {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.fake.user_json(user_id)],
            }
        )

    async def send(self, request: web.Request) -> web.Response:
        """``POST /channels/{dm}/messages`` in a DM channel."""
        if request.headers.get("Authorization") != f"Bot {self.fake.token}":
            raise DiscordError(401, 0, "401: Unauthorized", reason="missing or wrong bot token")
        channel_id = int(request.match_info["channel_id"])
        user_id = self.channels[channel_id]
        if user_id in self.closed:
            error = {"message": "Cannot send messages to this user", "code": 50007}
            return json_response(error, 403)
        body = await read_body(request)
        path = "/channels/{channel_id}/messages"
        payload = validated(path, "post", body, schemas=self.fake.check_schemas) or {}
        files = [
            self.fake.store_attachment(channel_id, up.filename, up.data, up.content_type)
            for _, up in sorted(body.uploads.items())
        ]
        content = str(payload.get("content") or "")
        self.sent.append(DirectMessage(user_id, content, payload, files))
        self._changed.set()
        return json_response(
            {
                "id": str(self.fake.new_id()),
                "type": 0,
                "channel_id": str(channel_id),
                "author": self.fake.bot_user_json(),
                "content": payload.get("content") or "",
                "timestamp": iso(self.fake.now()),
                "edited_timestamp": None,
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [attachment_json(f) for f in files],
                "embeds": payload.get("embeds") or [],
                "pinned": False,
                "flags": 0,
            }
        )

    async def wait_for(self, user_id: int, timeout: float = 10) -> DirectMessage:
        """The first direct message to ``user_id`` (now or once it is sent)."""

        async def watch() -> DirectMessage:
            while True:
                self._changed.clear()
                for message in self.sent:
                    if message.user_id == user_id:
                        return message
                await self._changed.wait()

        return await asyncio.wait_for(watch(), timeout)
