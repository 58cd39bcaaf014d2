"""A fake Discord for end-to-end tests of the real discord.py client.

One aiohttp server on 127.0.0.1 serves the REST API under ``/api/v10``, the gateway
(``/gateway``, plain JSON text frames) and a CDN for uploaded files (``/attachments/...``).
It enforces Discord's rules — the 3-second acknowledgement, one answer per interaction, the
15-minute interaction token, upload limits, request bodies valid against the official OpenAPI
description — answering as Discord does and recording each breach in ``violations``.

    async with FakeDiscord() as fake:
        guild = fake.add_guild("g", owner_id=1)
        channel = guild.add_channel("art")
        with fake.pointed():
            task = asyncio.create_task(bot.start(fake.token))
            await fake.wait_ready()
            inter = await fake.slash("imagine", guild=guild, channel=channel, user_id=1,
                                     options={"prompt": "a cat"})
            msg = await fake.wait_for(lambda m: m.attachments)
"""

from .bodies import DiscordError
from .models import (
    DEFAULT_ATTACHMENT_LIMIT,
    DEFAULT_PERMISSIONS,
    EPHEMERAL,
    LOADING,
    CallbackAttempt,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
)
from .schema import QUIRKS, openapi
from .server import FakeDiscord

__all__ = [
    "DEFAULT_ATTACHMENT_LIMIT",
    "DEFAULT_PERMISSIONS",
    "EPHEMERAL",
    "LOADING",
    "QUIRKS",
    "CallbackAttempt",
    "DiscordError",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "openapi",
]
