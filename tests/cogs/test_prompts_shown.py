"""A member's prompt as others see it, and why a job failed, through the real bot.

Public places (the status line, the result embed, channel posts) show the prompt inert:
no hidden or direction-changing characters, markdown and mentions escaped. The provider
gets it as typed, and so does the member's own view. A failure is never public, before or
after the interaction's 15 minutes, and the "thinking…" placeholder never stays.
"""

from __future__ import annotations

import re

from tests.cogs.conftest import ALICE, Rig, RigFactory
from tests.fakes.discord import FakeInteraction, FakeMessage

RLO, PDF, ZWSP, ZWJ = "\u202e", "\u202c", "\u200b", "\u200d"
HOSTILE = (
    f"a cat {RLO}gnp.exe{PDF} z{ZWSP}ero{ZWJ}width **bold** __under__ ||spoiler|| "
    "<@100000000000000001> @everyone <t:0:R> [click](https://evil.example) `code`"
)
INERT = (
    "a cat gnp.exe zerowidth \\*\\*bold\\*\\* \\_\\_under\\_\\_ \\|\\|spoiler\\|\\| "
    "\\<@100000000000000001> \\@everyone \\<t:0:R> \\[click](https://evil.example) \\`code\\`"
)
HIDDEN = (RLO, PDF, ZWSP, ZWJ)
# Markdown or a <…> token the prompt brought along, not escaped by a backslash.
UNESCAPED = re.compile(r"(?<!\\)[*_|<`]|(?<!\\)@everyone")


def public_messages(rig: Rig) -> list[FakeMessage]:
    """Everything in the guild's channels that others can read (now or at some point)."""
    return [m for m in rig.fake.messages() if not m.ephemeral and m.channel_id == rig.channel.id]


def every_text(message: FakeMessage) -> list[str]:
    """Each version of the message's text and embed descriptions, as sent over time."""
    texts = [message.content, *(e.get("description", "") for e in message.embeds)]
    for payload in message.payloads:
        texts.append(str(payload.get("content") or ""))
        texts += [str(e.get("description") or "") for e in payload.get("embeds") or []]
    return [t for t in texts if t]


async def queue_listing(rig: Rig) -> FakeMessage:
    """The member's /queue answer."""
    asked = await rig.fake.slash("queue", guild=rig.guild, channel=rig.channel, user_id=ALICE)
    await asked.acknowledged()
    return await rig.fake.wait_for(
        lambda m: m.interaction is asked and m.ephemeral and not m.loading
    )


async def test_a_hostile_prompt_renders_inertly_in_public_but_reaches_the_provider_as_typed(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", latency=600.0, user_max_running=1)
    fal = rig.providers["fal"]
    first = await rig.imagine(prompt="first")
    await fal.wait_for_tasks(1)
    second = await rig.imagine(prompt=HOSTILE)
    status = second.original
    assert status is not None
    shown = await rig.fake.wait_for(lambda m: m.content.startswith("🕒"), message_id=status.id)
    line = shown.content.split("\n> ", 1)[1]
    assert line.startswith(INERT[:100]) and line.endswith("…"), "inert, cut to 120 characters"

    own = await queue_listing(rig)
    assert RLO in own.content and "\\*\\*bold\\*\\*" in own.content, "as typed, read literally"

    fal.finish_all()
    await rig.outcome(first)
    await fal.wait_for_tasks(2)
    fal.finish_all()
    result = await rig.outcome(second)
    assert result.embeds[0]["description"] == INERT
    [sent] = [t.body["prompt"] for t in fal.tasks.values() if t.body["prompt"] != "first"]
    assert sent == HOSTILE, "the provider gets exactly what the member typed"
    for message in public_messages(rig):
        for text in every_text(message):
            assert not any(char in text for char in HIDDEN), text
            assert not UNESCAPED.search(text.split("\n> ")[-1]), text


async def outlived(rig: Rig, interaction: FakeInteraction) -> FakeMessage:
    """Let the job's interaction token expire while the provider holds it, then end it."""
    status = interaction.original
    assert status is not None
    provider = next(iter(rig.providers.values()))
    await provider.wait_for_tasks(1)
    rig.advance(16 * 60)
    provider.finish_all()
    return await rig.fake.wait_for(lambda m: m.deleted, message_id=status.id, timeout=15)


async def test_a_late_failure_goes_by_direct_message_and_leaves_nothing_public(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", latency=600.0)
    rig.providers["fal"].script("failed")
    interaction = await rig.imagine(prompt=HOSTILE)
    await outlived(rig, interaction)
    told = await rig.fake.dms.wait_for(ALICE)
    assert told.content.startswith("✖ ")
    assert "Nothing was charged" in told.content
    assert told.payload.get("allowed_mentions") == {"parse": []}
    assert [m for m in public_messages(rig) if not m.deleted] == [], "no public trace"
    assert await rig.balance(ALICE) == 60
    listing = await queue_listing(rig)
    assert "While you were away" not in listing.content, "already told"


async def test_a_late_failure_waits_in_queue_for_a_member_who_takes_no_dms(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", latency=600.0)
    rig.fake.dms.closed.add(ALICE)
    rig.providers["fal"].script("moderated")
    interaction = await rig.imagine(prompt="a storm at sea")
    await outlived(rig, interaction)
    assert rig.service is not None
    await rig.service.pipeline.drain()
    assert rig.fake.dms.sent == []
    assert [m for m in public_messages(rig) if not m.deleted] == []

    listing = await queue_listing(rig)
    assert listing.content.startswith("**While you were away**\n🛡️ ")
    assert "> a storm at sea" in listing.content
    assert "You have no images waiting or being made." in listing.content
    again = await queue_listing(rig)
    assert again.content == "You have no images waiting or being made.", "told once"


async def test_a_late_result_in_the_channel_shows_the_prompt_inertly(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", latency=600.0)
    interaction = await rig.imagine(prompt=HOSTILE)
    await outlived(rig, interaction)
    posted = await rig.fake.wait_for(lambda m: m.via == "bot" and bool(m.attachments))
    assert posted.embeds[0]["description"] == INERT
    assert [m.id for m in public_messages(rig) if not m.deleted] == [posted.id]
