"""What the fake Discord holds: guilds, channels, members, roles, messages, interactions."""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
ATTACHMENT_SPOILER = 1 << 3
MiB = 1024 * 1024
DEFAULT_ATTACHMENT_LIMIT = 10 * MiB
MAX_REQUEST = 25 * MiB
MAX_ATTACHMENTS = 10
ACK_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0

# Bits Discord gives @everyone in a new guild (view, send, history, embed, attach, react,
# external emoji, application commands, threads, voice, invite, nickname).
DEFAULT_PERMISSIONS = sum(
    1 << bit for bit in (0, 6, 10, 11, 14, 15, 16, 18, 20, 21, 25, 26, 31, 35, 36, 38)
)
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 53) - 1

Via = Literal["interaction", "webhook", "bot", "user"]


@dataclass(eq=False)
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 1


@dataclass(eq=False)
class FakeMember:
    user_id: int
    name: str
    permissions: int = DEFAULT_PERMISSIONS
    roles: list[int] = field(default_factory=list)
    bot: bool = False


@dataclass(eq=False)
class FakeChannel:
    id: int
    guild: FakeGuild
    name: str
    nsfw: bool = False
    position: int = 0
    type: int = 0  # GUILD_TEXT

    @property
    def guild_id(self) -> int:
        return self.guild.id


@dataclass(eq=False)
class FakeGuild:
    """A guild; build it with ``FakeDiscord.add_guild`` and the ``add_*`` methods."""

    id: int
    name: str
    owner_id: int
    new_id: Callable[[], int] = field(repr=False)
    attachment_size_limit: int = DEFAULT_ATTACHMENT_LIMIT
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    roles: dict[int, FakeRole] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.roles[self.id] = FakeRole(self.id, "@everyone", DEFAULT_PERMISSIONS, position=0)

    def add_channel(self, name: str, *, nsfw: bool = False) -> FakeChannel:
        channel = FakeChannel(self.new_id(), self, name, nsfw, position=len(self.channels))
        self.channels[channel.id] = channel
        return channel

    def add_member(
        self,
        user_id: int,
        name: str,
        *,
        permissions: int = DEFAULT_PERMISSIONS,
        roles: tuple[int, ...] | list[int] = (),
        bot: bool = False,
    ) -> FakeMember:
        member = FakeMember(user_id, name, permissions, list(roles), bot)
        self.members[user_id] = member
        return member

    def add_role(self, name: str, permissions: int) -> int:
        role = FakeRole(self.new_id(), name, permissions, position=len(self.roles))
        self.roles[role.id] = role
        return role.id

    def permissions_of(self, user_id: int) -> int:
        """A member's guild permissions: their own bits (the @everyone defaults unless given)
        plus their roles'; the owner and administrators have all."""
        member = self.members[user_id]
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        bits = member.permissions
        for role_id in member.roles:
            bits |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if bits & ADMINISTRATOR else bits


@dataclass(eq=False)
class FakeAttachment:
    id: int
    filename: str
    data: bytes = field(repr=False)
    content_type: str
    url: str
    description: str | None = None
    ephemeral: bool = False

    @property
    def spoiler(self) -> bool:
        return self.filename.startswith("SPOILER_")

    @property
    def size(self) -> int:
        return len(self.data)


def guess_type(filename: str, sent: str | None = None) -> str:
    """Discord names the type from the file name; multipart parts say octet-stream anyway."""
    guessed, _ = mimetypes.guess_type(filename)
    if guessed:
        return guessed
    return sent or "application/octet-stream"


@dataclass(eq=False)
class FakeMessage:
    """A message as the fake stores it: fields as the bot sent them (embeds, components)."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    via: Via
    created_at: float
    type: int = 0
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    flags: int = 0
    message_reference: dict[str, Any] | None = None
    nonce: str | int | None = None
    tts: bool = False
    webhook_id: int | None = None
    interaction: FakeInteraction | None = field(default=None, repr=False)
    deleted: bool = False
    edits: int = 0
    edited_at: float | None = None
    payloads: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def custom_ids(self) -> list[str]:
        """Every ``custom_id`` in the message's components, depth first."""
        found: list[str] = []

        def walk(nodes: list[dict[str, Any]]) -> None:
            for node in nodes:
                if node.get("custom_id"):
                    found.append(node["custom_id"])
                walk(node.get("components") or [])
                if isinstance(node.get("accessory"), dict):
                    walk([node["accessory"]])

        walk(self.components)
        return found


@dataclass
class CallbackAttempt:
    """One POST to the interaction's callback route, accepted or not."""

    delay: float
    status: int
    type: int | None


@dataclass(eq=False)
class FakeInteraction:
    """An interaction the fake dispatched, and how the bot answered it."""

    id: int
    token: str
    type: int  # 2 application command, 3 component, 5 modal submit
    guild: FakeGuild
    channel: FakeChannel
    user_id: int
    payload: dict[str, Any] = field(repr=False)
    created_at: float  # on the fake clock (``FakeDiscord.now``)
    dispatched: float = field(repr=False)  # time.monotonic() when sent on the gateway
    message: FakeMessage | None = field(default=None, repr=False)
    locale: str = "en-US"  # the member's Discord language, sent as the interaction's ``locale``
    response_type: int | None = None
    ack_delay: float | None = None
    original: FakeMessage | None = field(default=None, repr=False)
    followups: list[FakeMessage] = field(default_factory=list, repr=False)
    callbacks: list[CallbackAttempt] = field(default_factory=list, repr=False)
    modal: dict[str, Any] | None = field(default=None, repr=False)  # a type 9 answer's data
    _acked: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def acked(self) -> bool:
        return self.response_type is not None

    async def acknowledged(self, timeout: float = 5) -> float:
        """Seconds from dispatch to the accepted callback; TimeoutError if none comes."""
        await asyncio.wait_for(self._acked.wait(), timeout)
        assert self.ack_delay is not None
        return self.ack_delay
