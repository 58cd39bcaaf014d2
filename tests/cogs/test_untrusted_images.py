"""Hostile image files through the real bot: a bomb or a mislabelled file is refused clearly,
never decoded, never a traceback; a result counts against its provider."""

from __future__ import annotations

import logging

import pytest

from bot.origins import origin_of
from tests.cogs.conftest import ALICE, Rig, RigFactory
from tests.fakes import bombs
from tests.fakes.discord import FakeMessage


async def imagine_with_reference(
    rig: Rig, filename: str, data: bytes, content_type: str
) -> FakeMessage:
    """/imagine with an uploaded reference; the private answer the member gets."""
    interaction = await rig.fake.slash(
        "imagine",
        guild=rig.guild,
        channel=rig.channel,
        user_id=ALICE,
        options={"prompt": "a cat like this", "reference": (filename, data, content_type)},
    )
    await interaction.acknowledged()
    return await rig.outcome(interaction)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]


@pytest.mark.parametrize("provider", ["bfl", "fal"])
async def test_a_result_that_is_a_decompression_bomb_is_the_providers_fault(
    make_rig: RigFactory, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig(provider)
    fake = rig.providers[provider]
    fake.fail_next("file", 200, bombs.png_bomb(), headers={"Content-Type": "image/png"})
    with caplog.at_level(logging.WARNING):
        told = await rig.outcome(await rig.imagine())
    assert told.ephemeral, "the reason is the member's alone"
    assert told.content.startswith(
        "✖ The image provider's answer was refused: the image is 400 megapixels; the limit is "
        "40 megapixels. Nothing was charged."
    )
    assert await rig.balance(ALICE) == 60
    assert rig.service is not None
    assert rig.service.core.router.health[provider].breaker.failures == 1, "counted against it"
    assert fake.count(path_prefix="/files/") == 1, "fetched once, never decoded, not retried"
    assert_no_traceback(caplog)


async def test_a_result_that_is_not_the_image_its_type_says_is_refused(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig("bfl")
    rig.providers["bfl"].fail_next(
        "file", 200, bombs.small_jpeg(), headers={"Content-Type": "image/png"}
    )
    with caplog.at_level(logging.WARNING):
        told = await rig.outcome(await rig.imagine())
    assert "the file says it is image/png but is a JPEG image" in told.content
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("upload", "problem"),
    [
        (
            ("bomb.png", bombs.png_bomb(), "image/png"),
            "the image is 400 megapixels; the limit is 40 megapixels",
        ),
        (
            ("wide.png", bombs.wide_png(), "image/png"),
            "the image is 7000×7000 pixels (49 megapixels); the limit is 40 megapixels",
        ),
        (
            ("cat.png", bombs.small_jpeg(), "image/png"),
            "the file says it is image/png but is a JPEG image; a file must be the type it says",
        ),
    ],
    ids=["bomb", "too-many-pixels", "mislabelled"],
)
@pytest.mark.parametrize("provider", ["bfl", "fal"])
async def test_a_hostile_reference_is_a_clear_refusal_before_anything_is_charged(
    make_rig: RigFactory,
    provider: str,
    upload: tuple[str, bytes, str],
    problem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = await make_rig(provider)
    with caplog.at_level(logging.WARNING):
        told = await imagine_with_reference(rig, *upload)
    assert told.ephemeral
    assert told.content.startswith(f"`reference` is not valid: {problem}. Allowed: a JPEG, PNG")
    assert "at most 40 megapixels" in told.content
    assert rig.providers[provider].tasks == {}, "no provider ever saw it"
    assert await rig.balance(ALICE) == 60
    assert_no_traceback(caplog)


async def test_a_good_reference_still_reaches_the_provider(make_rig: RigFactory) -> None:
    rig = await make_rig("bfl")
    result = await imagine_with_reference(rig, "cat.jpg", bombs.small_jpeg(), "image/jpeg")
    assert result.attachments, "the job went through"
    [submit] = [r for r in rig.providers["bfl"].requests if r.method == "POST"]
    assert submit.body["image_prompt"], "BFL got the reference's bytes"


async def test_an_attachment_is_fetched_through_the_same_guarded_path(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig("bfl")
    cdn = origin_of(rig.fake.url)
    rig.settings = rig.settings.model_copy(
        update={"trusted_hosts": tuple(o for o in rig.settings.trusted_hosts if o != cdn)}
    )
    await rig.restart()
    told = await imagine_with_reference(rig, "cat.jpg", bombs.small_jpeg(), "image/jpeg")
    assert told.content.startswith(
        "`reference` is not valid: its link was not followed: it is not https."
    ), "an untrusted plain-http CDN is refused like any other link"
    assert rig.providers["bfl"].tasks == {}
