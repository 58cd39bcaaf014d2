"""Message commands on any message with an image: "Imagine from this image", "Vary this image"."""

from __future__ import annotations

import io

from PIL import Image

from tests.cogs.conftest import ALICE, BOB, Rig, RigFactory
from tests.fakes.discord.modals import prefilled


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


def sent(rig: Rig) -> list[dict]:  # type: ignore[type-arg]
    return [r.body for r in rig.providers["fal"].requests if r.method == "POST"]


async def test_imagine_from_an_attachment_asks_for_a_prompt_and_uses_the_image(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    posted = await rig.fake.post_as(
        BOB, rig.channel, "my cat", files=[("cat.png", png(), "image/png")]
    )
    opened = await rig.fake.message_command("Imagine from this image", posted, user_id=ALICE)
    assert await opened.acknowledged() < 3.0
    assert opened.response_type == 9
    assert opened.modal is not None
    assert prefilled(opened.modal) == {"prompt": "", "image": posted.attachments[0].url}
    submitted = await rig.fake.submit_modal(opened, {"prompt": "the cat as a knight"})
    assert await submitted.acknowledged() < 3.0
    result = await rig.outcome(submitted)
    assert len(result.attachments) == 1
    body = sent(rig)[-1]
    assert (body["prompt"], body["image_url"]) == ("the cat as a knight", posted.attachments[0].url)
    assert await rig.balance(ALICE) == 54


async def test_vary_an_embed_image(make_rig: RigFactory) -> None:
    rig = await make_rig("fal", vary_subtle_strength=0.75)
    upload = await rig.fake.post_as(BOB, rig.channel, files=[("sky.png", png(), "image/png")])
    url = upload.attachments[0].url
    shown = await rig.fake.post_as(
        BOB, rig.channel, embeds=[{"type": "rich", "image": {"url": url}}]
    )
    varied = await rig.fake.message_command("Vary this image", shown, user_id=ALICE)
    await varied.acknowledged()
    await rig.outcome(varied)
    body = sent(rig)[-1]
    assert (body["image_url"], body["image_prompt_strength"]) == (url, 0.75)
    assert body["prompt"] == "a variation of this image"


async def test_images_discord_does_not_serve_are_refused_and_cost_nothing(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("fal")
    linked = await rig.fake.post_as(
        BOB, rig.channel, embeds=[{"type": "rich", "image": {"url": "https://example.com/a.png"}}]
    )
    notes = await rig.fake.post_as(BOB, rig.channel, files=[("notes.txt", b"hello", "text/plain")])
    for target in (linked, notes):
        for name in ("Vary this image", "Imagine from this image"):
            refused = await rig.fake.message_command(name, target, user_id=ALICE)
            await refused.acknowledged()
            assert refused.response_type == 4
            assert refused.original is not None and refused.original.ephemeral
            assert "no image Discord serves" in refused.original.content
    opened = await rig.fake.message_command(
        "Imagine from this image",
        await rig.fake.post_as(BOB, rig.channel, files=[("cat.png", png(), "image/png")]),
        user_id=ALICE,
    )
    await opened.acknowledged()
    swapped = await rig.fake.submit_modal(
        opened, {"prompt": "a cat", "image": "https://example.com/a.png"}
    )
    await swapped.acknowledged()
    assert (
        swapped.original is not None and "not an image Discord serves" in swapped.original.content
    )
    assert rig.providers["fal"].tasks == {}
    assert await rig.balance(ALICE) == 60
