"""The fake Discord, driven by the real discord.py client over loopback."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import (
    EPHEMERAL,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    openapi,
)
from tests.fakes.discord.render import callback_json, message_json
from tests.fakes.discord.webhooks import CALLBACK

OWNER = 1_000_001
USER = 1_000_002
MODERATOR = 1_000_003
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
NONE = discord.AllowedMentions.none()


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"job:(?P<job>\d+):(?P<action>again|quiet)"
):
    """A button that survives restarts: the job id lives in the custom_id."""

    def __init__(self, job: int, action: str = "again") -> None:
        super().__init__(discord.ui.Button(label=action, custom_id=f"job:{job}:{action}"))
        self.job, self.action = job, action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        return cls(int(match["job"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MiniBot = interaction.client  # type: ignore[assignment]
        bot.seen.append((self.action, self.job, interaction.user.id))
        if self.action == "again":  # answer by editing the message: callback type 7
            await interaction.response.edit_message(content=f"again {self.job}", view=None)
        else:  # acknowledge now (type 6), edit the message through @original later
            await interaction.response.defer()
            await interaction.edit_original_response(content=f"quiet {self.job}")


class MiniBot(commands.Bot):
    """The smallest bot that exercises what imagine-bot uses."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or discord.Intents.default(),
            guild_ready_timeout=0.1,
            allowed_mentions=NONE,
        )
        self.seen: list[tuple[Any, ...]] = []
        self.held: asyncio.Queue[discord.Interaction] = asyncio.Queue()
        self.failures: asyncio.Queue[discord.HTTPException] = asyncio.Queue()
        self.late = asyncio.Event()  # set once the test has aged the "slow" interaction
        self._add_commands()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command(description="Every option type the bot uses")
        async def types(
            interaction: discord.Interaction,
            prompt: str,
            count: app_commands.Range[int, 1, 4],
            scale: float,
            flag: bool,
            image: discord.Attachment,
        ) -> None:
            data = await image.read()
            channel = interaction.channel
            assert isinstance(channel, discord.TextChannel)
            self.seen.append((prompt, count, scale, flag, image.filename, data, channel.is_nsfw()))
            await interaction.response.send_message(f"got {prompt}", ephemeral=True)

        @tree.command(description="Defers, then the test drives the interaction")
        async def hold(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            self.held.put_nowait(interaction)

        @tree.command(description="Acknowledges too late")
        async def slow(interaction: discord.Interaction) -> None:
            await self.late.wait()
            try:
                await interaction.response.defer()
            except discord.HTTPException as exc:
                self.failures.put_nowait(exc)

        @tree.command(description="Answers twice")
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            interaction.response._response_type = None  # get past discord.py's own guard
            try:
                await interaction.response.send_message("again")
            except discord.HTTPException as exc:
                self.failures.put_nowait(exc)

        admin = app_commands.Group(name="admin", description="Admin tools")

        @admin.command(description="Usage")
        async def stats(interaction: discord.Interaction, days: int = 7) -> None:
            perms, app = interaction.permissions, interaction.app_permissions
            self.seen.append(("stats", days, perms.manage_guild, app.attach_files))
            await interaction.response.send_message(f"{days} days", ephemeral=True)

        tree.add_command(admin)


@dataclass
class World:
    fake: FakeDiscord
    guild: FakeGuild
    channel: FakeChannel
    nsfw: FakeChannel


@asynccontextmanager
async def running(fake: FakeDiscord, bot: MiniBot) -> AsyncIterator[MiniBot]:
    """The bot connected to the fake until the block ends, then closed."""
    with fake.pointed():
        task = asyncio.create_task(bot.start(fake.token))
        try:
            await fake.wait_ready()
            yield bot
        finally:
            await bot.close()
            await asyncio.wait_for(task, 5)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Art club", owner_id=OWNER)
        channel = guild.add_channel("gallery")
        nsfw = guild.add_channel("after-dark", nsfw=True)
        guild.add_member(USER, "alice")
        moderators = guild.add_role("moderators", permissions=1 << 5)  # MANAGE_GUILD
        guild.add_member(MODERATOR, "mod", roles=[moderators])
        yield World(fake, guild, channel, nsfw)


@pytest.fixture
async def bot(world: World) -> AsyncIterator[MiniBot]:
    async with running(world.fake, MiniBot()) as connected:
        scope = discord.Object(world.guild.id)
        connected.tree.copy_global_to(guild=scope)
        await connected.tree.sync(guild=scope)
        yield connected


async def hold(world: World, bot: MiniBot) -> tuple[FakeInteraction, discord.Interaction]:
    inter = await world.fake.slash("hold", guild=world.guild, channel=world.channel, user_id=USER)
    return inter, await asyncio.wait_for(bot.held.get(), 5)


async def test_login_ready_guilds_and_command_sync(world: World, bot: MiniBot) -> None:
    fake = world.fake
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert bot.application_id == fake.application_id
    assert ("GET", "/api/v10/users/@me", 200) in fake.requests
    assert ("GET", "/api/v10/oauth2/applications/@me", 200) in fake.requests
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.me is not None
    gallery, after_dark = bot.get_channel(world.channel.id), bot.get_channel(world.nsfw.id)
    assert isinstance(gallery, discord.TextChannel) and not gallery.is_nsfw()
    assert isinstance(after_dark, discord.TextChannel) and after_dark.is_nsfw()
    fetched = await bot.fetch_channel(world.nsfw.id)
    assert isinstance(fetched, discord.TextChannel) and fetched.is_nsfw()

    names = {c["name"] for c in fake.commands[world.guild.id]}
    assert names == {"types", "hold", "slow", "twice", "admin"}
    assert fake.command_syncs == 1
    synced = await bot.tree.sync()
    assert {c.name for c in synced} == names and fake.command_syncs == 2
    assert [c["name"] for c in fake.commands[None]] == [c.name for c in synced]
    assert fake.violations == []


async def test_slash_reaches_the_command_with_typed_options(world: World, bot: MiniBot) -> None:
    fake = world.fake
    inter = await fake.slash(
        "types",
        guild=world.guild,
        channel=world.nsfw,
        user_id=USER,
        options={"prompt": "a cat", "count": 3, "scale": 1.5, "flag": True},
        attachments=[("ref.png", PNG, "image/png")],
    )
    assert await inter.acknowledged() < 3
    reply = await fake.wait_for(lambda m: m.content == "got a cat")
    assert bot.seen == [("a cat", 3, 1.5, True, "ref.png", PNG, True)]
    assert inter.response_type == 4 and inter.original is reply
    assert reply.ephemeral and reply.flags & EPHEMERAL and reply.via == "interaction"
    assert reply.allowed_mentions == {"parse": []}

    with pytest.raises(ValueError, match="has no option 'size'"):
        await fake.slash("types", guild=world.guild, channel=world.nsfw, user_id=USER,
                         options={"size": 3})  # fmt: skip
    for user_id in (USER, MODERATOR):
        sub = await fake.slash(
            "admin", guild=world.guild, channel=world.channel, user_id=user_id,
            subcommand="stats", options={"days": 30},
        )  # fmt: skip
        await sub.acknowledged()
    assert bot.seen[-2:] == [("stats", 30, False, True), ("stats", 30, True, True)]
    assert fake.violations == []


async def test_deferred_edit_with_file_embed_button_then_click(world: World, bot: MiniBot) -> None:
    fake = world.fake
    inter, interaction = await hold(world, bot)
    assert inter.response_type == 5 and inter.original is not None and inter.original.loading
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(7))
    embed = discord.Embed(title="A cat").set_image(url="attachment://cat.png")
    edited = await interaction.edit_original_response(
        content="Done", attachments=[discord.File(io.BytesIO(PNG), "cat.png")], embed=embed,
        view=view,
    )  # fmt: skip
    msg = inter.original
    assert (msg.content, msg.loading, msg.edits, msg.via) == ("Done", False, 1, "interaction")
    assert [(a.filename, a.data, a.content_type) for a in msg.attachments] == [
        ("cat.png", PNG, "image/png")
    ]
    assert msg.embeds[0]["title"] == "A cat"
    assert msg.embeds[0]["image"]["url"] == "attachment://cat.png"
    assert msg.custom_ids() == ["job:7:again"]
    assert edited.attachments[0].url == msg.attachments[0].url
    assert await edited.attachments[0].read() == PNG
    assert edited.embeds[0].image.url == msg.attachments[0].url  # Discord resolves attachment://
    fetched = await interaction.original_response()
    assert fetched.id == msg.id and fetched.content == "Done"

    click = await fake.click(msg, "job:7:again", user_id=USER)
    await fake.wait_for(lambda m: m.id == msg.id and m.content == "again 7")
    assert click.response_type == 7 and click.original is msg
    assert bot.seen == [("again", 7, USER)]
    assert msg.components == [] and msg.edits == 2

    await interaction.edit_original_response(view=discord.ui.View().add_item(JobButton(7, "quiet")))
    quiet = await fake.click(msg, "job:7:quiet", user_id=USER)
    await fake.wait_for(lambda m: m.id == msg.id and m.content == "quiet 7")
    assert quiet.response_type == 6 and quiet.original is msg
    assert fake.violations == []


async def test_followups_ephemeral_and_the_deferred_first(world: World, bot: MiniBot) -> None:
    inter, interaction = await hold(world, bot)
    first = await interaction.followup.send("first", ephemeral=True, wait=True)
    # The first followup after a public defer fills the loading message: it stays public.
    assert first.id == inter.original.id and not inter.original.ephemeral
    secret = await interaction.followup.send(
        "secret", ephemeral=True, file=discord.File(io.BytesIO(b"x"), "a.txt", spoiler=True),
        embed=discord.Embed(description="only you"), view=discord.ui.View().add_item(JobButton(9)),
        wait=True,
    )  # fmt: skip
    assert secret.flags.ephemeral
    message = inter.followups[-1]
    assert message.id == secret.id and message.ephemeral and message.via == "webhook"
    assert message.attachments[0].spoiler and message.attachments[0].filename == "SPOILER_a.txt"
    assert message.embeds[0]["description"] == "only you"
    await world.fake.click(message, "job:9:again", user_id=USER)
    await world.fake.wait_for(lambda m: m.content == "again 9")
    assert message.ephemeral and message.components == []
    await interaction.delete_original_response()
    assert inter.original.deleted
    assert [m.id for m in world.fake.messages(world.channel)] == [first.id, secret.id]
    assert world.fake.violations == []


async def test_channel_send_reply_nonce_edit_delete(world: World, bot: MiniBot) -> None:
    fake = world.fake
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("first")
    reply = await channel.send("reply", reference=first, nonce=42, allowed_mentions=NONE)
    again = await channel.send("reply", reference=first, nonce=42, allowed_mentions=NONE)
    assert again.id == reply.id  # enforce_nonce: the same nonce gives back the same message
    stored = fake.find_message(reply.id)
    assert stored is not None and stored.via == "bot" and stored.nonce == "42"
    assert stored.allowed_mentions == {"parse": []}
    assert stored.message_reference is not None
    assert stored.message_reference["message_id"] == str(first.id)
    assert reply.reference is not None and reply.reference.message_id == first.id
    await first.edit(content="first, edited")
    await first.delete()
    original = fake.find_message(first.id)
    assert original is not None and original.edits == 1 and original.deleted
    assert [m.content for m in fake.messages(world.channel)] == ["first, edited", "reply"]
    assert fake.violations == []


async def test_late_acknowledgement_is_unknown_interaction(world: World, bot: MiniBot) -> None:
    inter = await world.fake.slash("slow", guild=world.guild, channel=world.channel, user_id=USER)
    inter.dispatched -= 3.1  # sent 3.1 s ago as the fake sees it: past Discord's 3 s deadline
    bot.late.set()
    failure = await asyncio.wait_for(bot.failures.get(), 10)
    assert isinstance(failure, discord.NotFound) and failure.code == 10062
    assert not inter.acked and inter.callbacks[0].status == 404 and inter.callbacks[0].delay > 3
    assert "10062" in await world.fake.wait_violation("Unknown interaction")


async def test_second_answer_is_already_acknowledged(world: World, bot: MiniBot) -> None:
    inter = await world.fake.slash("twice", guild=world.guild, channel=world.channel, user_id=USER)
    failure = await asyncio.wait_for(bot.failures.get(), 5)
    assert failure.status == 400 and failure.code == 40060
    assert inter.response_type == 5 and [c.status for c in inter.callbacks] == [200, 400]
    [violation] = world.fake.violations
    assert "400 40060 Interaction has already been acknowledged." in violation


async def test_interaction_token_expires_after_15_minutes(world: World, bot: MiniBot) -> None:
    fake = world.fake
    _, interaction = await hold(world, bot)
    await interaction.edit_original_response(content="working")
    fake.advance(901)
    with pytest.raises(discord.HTTPException) as edit:
        await interaction.edit_original_response(content="done")
    with pytest.raises(discord.HTTPException) as followup:
        await interaction.followup.send("done")
    assert (edit.value.status, edit.value.code) == (401, 50027)
    assert (followup.value.status, followup.value.code) == (401, 50027)
    assert len(fake.violations) == 2 and all("Invalid Webhook Token" in v for v in fake.violations)
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("done, with the bot token")  # the way out after 15 minutes
    assert len(fake.violations) == 2


async def test_file_over_the_guild_limit(world: World, bot: MiniBot) -> None:
    world.guild.attachment_size_limit = 1024
    inter, interaction = await hold(world, bot)
    assert interaction.filesize_limit == 1024
    big = discord.File(io.BytesIO(b"x" * 1025), "big.png")
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("big", file=big)
    assert (caught.value.status, caught.value.code) == (413, 40005)
    assert inter.followups == [] and inter.original.loading
    assert "big.png" in await world.fake.wait_violation("40005")

    world.guild.attachment_size_limit = 30 * 1024 * 1024  # each file fits, the request does not
    files = [discord.File(io.BytesIO(bytes(9 * 1024 * 1024)), f"{n}.png") for n in range(3)]
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("three", files=files)
    assert (caught.value.status, caught.value.code) == (413, 40005)
    assert "over 25 MiB" in await world.fake.wait_violation("over 25 MiB")


async def test_eleven_files_are_refused(world: World, bot: MiniBot) -> None:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    files = [discord.File(io.BytesIO(b"x"), f"{n}.png") for n in range(11)]
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(files=files)
    assert (caught.value.status, caught.value.code) == (400, 50035)
    assert world.fake.messages() == []
    assert "attachments" in await world.fake.wait_violation("50035")


async def test_invalid_bodies_sent_by_hand(world: World, bot: MiniBot) -> None:
    fake = world.fake
    url = f"{fake.api_base}/channels/{world.channel.id}/messages"
    body = {"content": 5, "embeds": [{"title": "x" * 300}], "allowed_mentions": {"parse": []}}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, json=body, headers={"Authorization": f"Bot {fake.token}"}
        ) as r:
            assert r.status == 400 and r.headers["Content-Type"] == "application/json"
            answer = await r.json()
        async with session.post(
            url, json={"content": "hi"}, headers={"Authorization": "Bot x"}
        ) as r:
            assert r.status == 401 and await r.json() == {"message": "401: Unauthorized", "code": 0}
        async with session.get(f"{fake.api_base}/guilds/1/bans") as r:
            assert r.status == 404
    assert answer["code"] == 50035 and answer["message"] == "Invalid Form Body"
    assert answer["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_BAD_TYPE"
    assert answer["errors"]["embeds"]["0"]["title"]["_errors"][0]["code"] == (
        "BASE_TYPE_MAX_LENGTH"
    )
    assert len(fake.violations) == 3
    assert "content: 5 is not of type" in fake.violations[0]
    assert "not served" in fake.violations[2]


async def test_restart_edits_original_through_webhook_partial(world: World) -> None:
    fake = world.fake
    async with running(fake, MiniBot()) as first:
        await first.tree.sync()
        inter, _ = await hold(world, first)
    token = inter.token
    async with running(fake, MiniBot()) as second:
        webhook = discord.Webhook.partial(fake.application_id, token, client=second)
        await webhook.edit_message(
            "@original", content="finished after a restart",
            attachments=[discord.File(io.BytesIO(PNG), "cat.png")],
        )  # fmt: skip
        assert inter.original.content == "finished after a restart"
        assert inter.original.attachments[0].data == PNG
        fake.advance(15 * 60 + 1)
        with pytest.raises(discord.HTTPException) as caught:
            await webhook.edit_message("@original", content="too late")
        assert caught.value.code == 50027
    assert len(fake.violations) == 1


async def test_answers_match_the_openapi_description(world: World, bot: MiniBot) -> None:
    fake = world.fake
    spec = openapi()
    inter, interaction = await hold(world, bot)
    stats = await fake.slash(
        "admin", guild=world.guild, channel=world.channel, user_id=USER, subcommand="stats"
    )
    await stats.acknowledged()
    for answered in (inter, stats):  # a defer (type 5) and a message (type 4, with resource)
        callback = callback_json(fake, answered, answered.original)
        assert spec.response_errors(CALLBACK, "post", 200, callback) == []
    await interaction.edit_original_response(
        content="x", embed=discord.Embed(title="t").set_image(url="attachment://a.png"),
        attachments=[discord.File(io.BytesIO(PNG), "a.png")],
    )  # fmt: skip
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("a")
    await channel.send("b", reference=first)
    for message in fake.messages():
        assert spec.schema_errors("MessageResponse", message_json(fake, message)) == []
    for command in fake.commands[world.guild.id]:
        assert spec.schema_errors("ApplicationCommandResponse", command) == []
    assert spec.schema_errors("UserPIIResponse", fake.bot_user_json()) == []
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake.token}"}
        for path, schema in [
            ("/oauth2/applications/@me", "/oauth2/applications/@me"),
            (f"/channels/{world.channel.id}", "/channels/{channel_id}"),
        ]:
            async with session.get(fake.api_base + path, headers=headers) as response:
                answer = await response.json()
            assert spec.response_errors(schema, "get", 200, answer) == []
    assert fake.violations == []


async def test_members_intent_gets_its_chunk(world: World) -> None:
    intents = discord.Intents.default()
    intents.members = True
    async with running(world.fake, MiniBot(intents)) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.chunked  # small guild: GUILD_CREATE had everyone
        members = await asyncio.wait_for(guild.chunk(), 5)  # REQUEST_GUILD_MEMBERS, op 8
        assert {m.id for m in members} == {OWNER, USER, MODERATOR, world.fake.bot_user_id}
    assert world.fake.violations == []


async def test_a_sync_with_invalid_localizations_is_refused(world: World, bot: MiniBot) -> None:
    fake = world.fake
    url = f"{fake.api_base}/applications/{fake.application_id}/guilds/{world.guild.id}/commands"
    good = {"name": "draw", "description": "Draw", "options": []}
    cases = {
        "invalid name": {**good, "name_localizations": {"de": "Bild Machen"}},
        "unknown locale": {**good, "description_localizations": {"xx": "Zeichnen"}},
        "duplicate": {
            **good,
            "options": [
                {"type": 3, "name": n, "description": "d", "name_localizations": {"fr": "texte"}}
                for n in ("prompt", "caption")
            ],
        },
    }
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        for problem, command in cases.items():
            async with session.put(url, json=[command], headers=headers) as r:
                assert r.status == 400, problem
                answer = await r.json()
            assert answer["code"] == 50035, problem
            assert problem in fake.violations[-1], fake.violations[-1]
        fine = {**good, "name_localizations": {"de": "zeichnen", "pt-BR": "desenhar"}}
        async with session.put(url, json=[fine], headers=headers) as r:
            assert r.status == 200
    [stored] = fake.commands[world.guild.id]
    assert stored["name_localizations"] == {"de": "zeichnen", "pt-BR": "desenhar"}
