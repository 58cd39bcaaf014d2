"""/imagine end to end: the real bot against a fake Discord and fake providers."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.models import JobStatus
from tests.cogs.conftest import ALICE, BOB, MOD, Rig, RigFactory
from tests.fakes.discord import FakeMessage

LABELS = {
    "bfl": "Black Forest Labs",
    "fal": "fal.ai",
    "replicate": "Replicate",
    "wavespeed": "WaveSpeedAI",
    "apiframe": "Apiframe",
    "aimlapi": "AIML API",
    "openai_compat": "OpenAI-compatible gateway",
}


def fields(message: FakeMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed["fields"]}


async def settings(rig: Rig, **changes: object) -> None:
    assert rig.service is not None
    await rig.service.pipeline.guilds.change_settings(rig.guild.id, MOD, **changes)


@pytest.mark.parametrize("provider", list(LABELS))
async def test_each_provider_delivers_to_discord(make_rig: RigFactory, provider: str) -> None:
    rig = await make_rig(provider)
    interaction = await rig.imagine(prompt="a lighthouse at dusk", aspect="16:9", seed=42)
    assert interaction.ack_delay is not None
    assert interaction.ack_delay < 1.0, "acknowledged at once"
    message = await rig.outcome(interaction)
    [attachment] = message.attachments
    with Image.open(io.BytesIO(attachment.data)) as image:
        assert abs(image.width / image.height - 16 / 9) < 0.05
    assert not attachment.spoiler
    shown = fields(message)
    assert shown["Provider"] == LABELS[provider]
    assert shown["Credits"] == "6"
    assert shown["Aspect"] == "16:9"
    ids = message.custom_ids()
    assert any(i.startswith("imagine:reroll:") for i in ids)
    assert any(i.startswith("imagine:delete:") for i in ids)
    assert message.allowed_mentions == {"parse": []}
    assert await rig.balance(ALICE) == 54


async def test_an_image_flagged_nsfw_is_posted_as_a_spoiler(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    rig.providers["fal"].script("nsfw")
    message = await rig.outcome(await rig.imagine())
    [attachment] = message.attachments
    assert attachment.spoiler
    assert attachment.filename.startswith("SPOILER_")
    assert "spoiler" in message.embeds[0]["footer"]["text"]


async def test_block_policy_holds_flagged_images_back_outside_age_restricted_channels(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    await settings(rig, nsfw_policy="block", refund_blocked=True)
    rig.providers["fal"].script("nsfw", "nsfw")
    asked = await rig.imagine()
    blocked = await rig.outcome(asked)
    assert blocked.ephemeral, "only the member is told"
    assert "not shown outside age-restricted channels" in blocked.content
    assert asked.original is not None
    assert asked.original.deleted
    assert await rig.balance(ALICE) == 60, "the server refunds blocked images"
    allowed = await rig.outcome(await rig.imagine(channel=rig.adult))
    [attachment] = allowed.attachments
    assert attachment.spoiler
    assert await rig.balance(ALICE) == 54


async def test_a_moderated_request_is_refunded_and_explained(make_rig: RigFactory) -> None:
    rig = await make_rig("bfl")
    rig.providers["bfl"].script("moderated_request")
    asked = await rig.imagine()
    message = await rig.outcome(asked)
    assert message.ephemeral, "the reason reaches the member alone"
    assert message.content.startswith("🛡️")
    assert "safety filter" in message.content
    assert "Nothing was charged" in message.content
    assert asked.original is not None
    assert asked.original.deleted, "no public trace of a refused prompt"
    assert await rig.balance(ALICE) == 60


async def test_an_image_over_the_upload_limit_is_refitted_not_refused(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    rig.guild.attachment_size_limit = 1024 * 1024
    fal = rig.providers["fal"]
    fal.image_divisor, fal.noise = 2, True
    interaction = await rig.imagine(format="png", aspect="1:1")
    message = await rig.outcome(interaction, timeout=30)
    [attachment] = message.attachments
    assert attachment.size <= 1024 * 1024
    with Image.open(io.BytesIO(attachment.data)) as image:
        assert image.width == image.height
    assert "to fit Discord's size limit" in message.embeds[0]["footer"]["text"]


async def test_a_job_outliving_its_token_is_posted_in_the_channel_and_its_placeholder_goes(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", latency=600.0)
    interaction = await rig.imagine()
    status = interaction.original
    assert status is not None
    await rig.providers["fal"].wait_for_tasks(1)
    rig.advance(901)
    rig.providers["fal"].finish_all()
    posted = await rig.fake.wait_for(lambda m: m.via == "bot" and bool(m.attachments))
    assert not posted.ephemeral
    assert posted.allowed_mentions == {"parse": []}
    assert f"<@{ALICE}>" in posted.content, "names the member without pinging"
    await rig.fake.wait_for(lambda m: m.deleted, message_id=status.id)
    assert status.attachments == [], "the 'thinking…' placeholder was deleted, not left behind"
    assert await rig.balance(ALICE) == 54


async def test_a_restart_with_a_job_in_flight_delivers_it_once(make_rig: RigFactory) -> None:
    rig = await make_rig("bfl", latency=600.0)  # still running at the restart, however slow
    interaction = await rig.imagine()
    await rig.providers["bfl"].wait_for_tasks(1)
    await rig.restart()
    rig.providers["bfl"].finish_all()
    message = await rig.outcome(interaction)
    assert len(message.attachments) == 1
    assert len(rig.providers["bfl"].tasks) == 1, "resumed, not submitted again"
    assert await rig.balance(ALICE) == 54


async def test_buttons_work_after_a_restart(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    result = await rig.outcome(await rig.imagine(seed=7))
    await rig.restart()
    reroll = next(i for i in result.custom_ids() if i.startswith("imagine:reroll:"))
    again = await rig.fake.click(result, reroll, user_id=BOB)
    await again.acknowledged()
    rerolled = await rig.outcome(again)
    assert rerolled.id != result.id
    assert len(rerolled.attachments) == 1
    assert await rig.balance(BOB) == 54, "whoever clicks pays"
    sent = [r.body for r in rig.providers["fal"].requests if r.method == "POST"]
    assert sent[0]["seed"] == 7
    assert "seed" not in sent[1], "a reroll takes a new seed"

    raw = next(i for i in result.custom_ids() if i.startswith("imagine:raw:"))
    toggled = await rig.outcome(await _click(rig, result, raw, ALICE))
    assert fields(toggled)["Raw"] == "on"
    sent = [r.body for r in rig.providers["fal"].requests if r.method == "POST"]
    assert (sent[2]["raw"], sent[2]["seed"]) == (True, 7)

    vary = next(i for i in result.custom_ids() if i.startswith("imagine:subtle:"))
    varied = await rig.outcome(await _click(rig, result, vary, ALICE))
    assert len(varied.attachments) == 1
    sent = [r.body for r in rig.providers["fal"].requests if r.method == "POST"]
    assert sent[3]["image_url"] == result.attachments[0].url


async def _click(rig: Rig, message: FakeMessage, custom_id: str, user: int):  # type: ignore[no-untyped-def]
    interaction = await rig.fake.click(message, custom_id, user_id=user)
    await interaction.acknowledged()
    return interaction


async def test_delete_is_for_the_requester_and_moderators(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    result = await rig.outcome(await rig.imagine())
    delete = next(i for i in result.custom_ids() if i.startswith("imagine:delete:"))
    refused = await _click(rig, result, delete, BOB)
    [reply] = refused.followups or [m for m in rig.fake.messages() if m.ephemeral]
    assert "Only the member who asked" in reply.content
    assert not result.deleted
    await _click(rig, result, delete, MOD)
    await rig.fake.wait_for(lambda m: m.id == result.id and m.deleted)
    assert result.deleted


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"seed": -5}, "`seed`"),
        ({"count": 9}, "`count`"),
        ({"reference_strength": 3.0}, "`reference_strength`"),
        ({"prompt": "x" * 2001}, "`prompt`"),
        ({"aspect": "7:5"}, "`aspect_ratio`"),
    ],
)
async def test_bad_options_are_refused_privately_and_cost_nothing(
    make_rig: RigFactory, options: dict[str, object], named: str
) -> None:
    rig = await make_rig("fal")
    interaction = await rig.imagine(**options)
    reply = interaction.original
    assert reply is not None
    assert reply.ephemeral
    assert named in reply.content
    assert "Allowed" in reply.content
    assert rig.providers["fal"].tasks == {}
    assert await rig.balance(ALICE) == 60


async def test_a_reference_that_is_not_an_image_is_refused(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    interaction = await rig.fake.slash(
        "imagine",
        guild=rig.guild,
        channel=rig.channel,
        user_id=ALICE,
        options={"prompt": "a cat", "reference": ("notes.txt", b"hello", "text/plain")},
    )
    await interaction.acknowledged()
    assert interaction.original is not None
    assert interaction.original.ephemeral
    assert "notes.txt is not a JPEG, PNG or WebP image" in interaction.original.content


async def test_mentions_in_a_prompt_ping_nobody(make_rig: RigFactory) -> None:
    rig = await make_rig("fal")
    prompt = "@everyone look <@&42> <@1003> @here"
    message = await rig.outcome(await rig.imagine(prompt=prompt))
    assert message.embeds[0]["description"] == "\\@everyone look \\<@&42> \\<@1003> \\@here"
    touched = [m for m in rig.fake.messages() if m.payloads]
    assert touched
    for sent in touched:
        assert sent.allowed_mentions == {"parse": []}, sent.content


async def test_a_refused_job_is_explained_privately_and_leaves_no_public_message(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal", daily_allowance=0)
    interaction = await rig.imagine()
    reply = await rig.fake.wait_for(lambda m: m.ephemeral and "credits" in m.content)
    assert "This needs 6 credits and you have 0" in reply.content
    assert interaction.original is not None
    await rig.fake.wait_for(lambda m: m.id == interaction.original.id and m.deleted)
    assert rig.providers["fal"].tasks == {}


async def test_credits_and_queue_show_the_member_their_own_state(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", latency=600.0, user_max_running=1)
    first = await rig.imagine(prompt="first")
    await rig.providers["fal"].wait_for_tasks(1)  # running: the second is next in line
    second = await rig.imagine(prompt="second")
    waiting = second.original
    assert waiting is not None
    shown = await rig.fake.wait_for(lambda m: m.id == waiting.id and m.content.startswith("🕒"))
    assert "Next in line" in shown.content, "a job that will wait shows its place at once"
    queue = await rig.fake.slash("queue", guild=rig.guild, channel=rig.channel, user_id=ALICE)
    await queue.acknowledged()
    listing = await rig.fake.wait_for(lambda m: m.ephemeral and "#2" in m.content)
    assert "being made" in listing.content
    assert "waiting" in listing.content
    cancels = [i for i in listing.custom_ids() if i.startswith("imagine:cancel:")]
    assert len(cancels) == 2, "running and waiting jobs can both be cancelled"
    cancel = cancels[1]
    await _click(rig, listing, cancel, ALICE)
    cancelled_status = second.original
    assert cancelled_status is not None
    await rig.fake.wait_for(lambda m: m.id == cancelled_status.id and m.deleted)
    assert rig.service is not None
    job = await rig.service.pipeline.job(int(cancel.split(":")[2]))
    assert job is not None
    assert job.status is JobStatus.CANCELLED
    credits = await rig.fake.slash("credits", guild=rig.guild, channel=rig.channel, user_id=ALICE)
    await credits.acknowledged()
    shown = await rig.fake.wait_for(lambda m: m.ephemeral and bool(m.embeds))
    assert shown.embeds[0]["title"] == "54 credits available"
    assert first.original is not None
