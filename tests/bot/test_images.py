"""Fitting generated images under Discord's upload limits without ever failing on size."""

from __future__ import annotations

import io
import random
import re
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot import images
from bot.images import MIN_LIMIT, REQUEST_LIMIT, REQUEST_OVERHEAD, Upload, fit, fit_all
from bot.models import GeneratedImage
from tests.fakes import bombs

KIB = 1024
MIB = 1024 * 1024
WIDTH, HEIGHT = 2752, 1536


def _noise(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    channels = len(mode)
    return Image.frombytes(
        mode, (width, height), random.Random(seed).randbytes(width * height * channels)
    )


def _encoded(picture: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


def _generated(data: bytes) -> GeneratedImage:
    with Image.open(io.BytesIO(data)) as picture:
        mime = Image.MIME[picture.format or ""]
        return GeneratedImage(
            data=data, content_type=mime, width=picture.width, height=picture.height
        )


def _check(upload: Upload, limit: int) -> Image.Image:
    assert len(upload.data) <= limit
    decoded = Image.open(io.BytesIO(upload.data))
    decoded.load()
    assert decoded.size == (upload.width, upload.height)
    assert Image.MIME[decoded.format or ""] == upload.content_type
    assert (
        upload.extension
        == {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[upload.content_type]
    )
    return decoded


@pytest.fixture(scope="module")
def noise_png() -> GeneratedImage:
    data = _encoded(_noise(WIDTH, HEIGHT, seed=1), "PNG", compress_level=0)
    assert len(data) > 10 * MIB
    return GeneratedImage(data=data, content_type="image/png", width=WIDTH, height=HEIGHT)


@pytest.fixture(scope="module")
def noise_jpegs() -> list[GeneratedImage]:
    sizes = [(2752, 1536), (2048, 2048), (3136, 1344), (1536, 2752)]
    made = []
    for seed, (width, height) in enumerate(sizes):
        data = _encoded(_noise(width, height, seed), "JPEG", quality=100, subsampling=0)
        assert len(data) > 10 * MIB
        made.append(
            GeneratedImage(data=data, content_type="image/jpeg", width=width, height=height)
        )
    return made


def test_a_small_image_is_returned_untouched() -> None:
    data = _encoded(_noise(64, 48, seed=2), "PNG")
    upload = fit(_generated(data), 10 * MIB)
    assert upload.data is data
    assert upload.reencoded is None
    assert (upload.content_type, upload.width, upload.height) == ("image/png", 64, 48)
    assert upload.extension == "png"


def test_an_image_within_the_limit_is_never_decoded() -> None:
    image = GeneratedImage(data=b"not an image", content_type="image/png", width=1, height=1)
    assert fit(image, MIN_LIMIT).data is image.data


@pytest.mark.parametrize("limit", [10 * MIB, 8 * MIB, 2 * MIB, 300 * KIB])
def test_a_noisy_png_is_fitted_under_each_limit(noise_png: GeneratedImage, limit: int) -> None:
    upload = fit(noise_png, limit)
    _check(upload, limit)
    assert upload.content_type == "image/jpeg"
    assert upload.width / upload.height == pytest.approx(WIDTH / HEIGHT, rel=0.01)
    assert upload.reencoded is not None
    match = re.fullmatch(
        r"re-encoded as JPEG \(quality (\d+)\)(?: and scaled to (\d+)×(\d+))?", upload.reencoded
    )
    assert match is not None
    assert int(match[1]) in images.QUALITIES
    if limit >= 8 * MIB:
        assert match[1] == "92"
    if limit >= 2 * MIB:
        assert match[2] is None
        assert (upload.width, upload.height) == (WIDTH, HEIGHT)
    else:
        assert (int(match[2]), int(match[3])) == (upload.width, upload.height)
        assert upload.width < WIDTH
        _assert_one_step_larger_does_not_fit(noise_png, upload, limit)


def _assert_one_step_larger_does_not_fit(
    original: GeneratedImage, upload: Upload, limit: int
) -> None:
    width = round(upload.width / images.SCALE_STEP)
    with Image.open(io.BytesIO(original.data)) as picture:
        larger = picture.resize(
            (width, round(width * original.height / original.width)), Image.Resampling.LANCZOS
        )
    assert len(_encoded(larger, "JPEG", quality=images.QUALITIES[-1], optimize=True)) > limit


def test_a_smooth_png_is_optimised_losslessly() -> None:
    size = (2048, 2048)
    gradient = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    data = _encoded(gradient, "PNG", compress_level=0)
    assert len(data) > 10 * MIB
    upload = fit(_generated(data), 10 * MIB)
    decoded = _check(upload, 10 * MIB)
    assert upload.reencoded == "PNG optimised"
    assert (upload.content_type, upload.width, upload.height) == ("image/png", 2048, 2048)
    assert decoded.tobytes() == gradient.tobytes()


def test_transparency_is_kept_as_webp() -> None:
    picture = _noise(768, 512, seed=3).convert("RGBA")
    picture.putalpha(Image.linear_gradient("L").resize(picture.size))
    data = _encoded(picture, "PNG", compress_level=1)
    upload = fit(_generated(data), 256 * KIB)
    decoded = _check(upload, 256 * KIB)
    assert upload.content_type == "image/webp"
    assert upload.extension == "webp"
    assert upload.reencoded is not None
    assert upload.reencoded.startswith("re-encoded as WebP (quality ")
    assert decoded.mode == "RGBA"
    assert decoded.getchannel("A").getextrema()[0] < 16


def test_an_opaque_alpha_channel_is_dropped_for_jpeg() -> None:
    picture = _noise(1024, 768, seed=4).convert("RGBA")
    data = _encoded(picture, "PNG", compress_level=1)
    upload = fit(_generated(data), 512 * KIB)
    decoded = _check(upload, 512 * KIB)
    assert upload.content_type == "image/jpeg"
    assert decoded.mode == "RGB"


def test_a_palette_png_with_transparency_is_composited_correctly() -> None:
    picture = _noise(512, 512, seed=5, mode="L").convert("P")
    picture.info["transparency"] = 0
    data = _encoded(picture, "PNG", transparency=0)
    upload = fit(_generated(data), 64 * KIB)
    decoded = _check(upload, 64 * KIB)
    assert upload.content_type == "image/webp"
    assert decoded.mode == "RGBA"


def test_jpeg_input_stays_jpeg(noise_jpegs: list[GeneratedImage]) -> None:
    upload = fit(noise_jpegs[0], 2 * MIB)
    _check(upload, 2 * MIB)
    assert upload.content_type == "image/jpeg"
    assert upload.reencoded is not None
    assert upload.reencoded.startswith("re-encoded as JPEG (quality ")


def test_webp_input_stays_webp() -> None:
    data = _encoded(_noise(320, 240, seed=6), "WEBP", quality=100)
    upload = fit(_generated(data), 16 * KIB)
    _check(upload, 16 * KIB)
    assert upload.content_type == "image/webp"


@pytest.mark.parametrize("limit", [MIN_LIMIT - 1, 0, -5])
def test_an_absurd_limit_is_refused(noise_png: GeneratedImage, limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1 KiB"):
        fit(noise_png, limit)


def test_unreadable_bytes_over_the_limit_are_refused() -> None:
    image = GeneratedImage(
        data=b"\x89PNG" + bytes(4096), content_type="image/png", width=1, height=1
    )
    with pytest.raises(ValueError, match="not a readable image"):
        fit(image, MIN_LIMIT)


async def test_fit_all_splits_the_request_budget_in_order(
    noise_jpegs: list[GeneratedImage],
) -> None:
    uploads = await fit_all(noise_jpegs, per_file=10 * MIB)
    share = (REQUEST_LIMIT - REQUEST_OVERHEAD) // 4
    assert [(u.width, u.height) for u in uploads] == [(i.width, i.height) for i in noise_jpegs]
    for upload in uploads:
        _check(upload, share)
    assert sum(len(u.data) for u in uploads) <= REQUEST_LIMIT - REQUEST_OVERHEAD


async def test_fit_all_respects_a_smaller_per_file_limit() -> None:
    medium = _generated(_encoded(_noise(640, 480, seed=8), "PNG", compress_level=1))
    uploads = await fit_all([medium, medium], per_file=256 * KIB)
    for upload in uploads:
        _check(upload, 256 * KIB)


async def test_fit_all_leaves_small_images_alone_and_shares_their_room(
    noise_png: GeneratedImage,
) -> None:
    small = _generated(_encoded(_noise(32, 32, seed=7), "PNG"))
    total = 4 * MIB + REQUEST_OVERHEAD
    uploads = await fit_all([small, noise_png, small], per_file=10 * MIB, total=total)
    assert uploads[0].data is small.data
    assert uploads[2].data is small.data
    assert uploads[0].reencoded is None
    even_share = (total - REQUEST_OVERHEAD) // 3
    assert even_share < len(uploads[1].data) <= 4 * MIB - 2 * len(small.data)


async def test_fit_all_fits_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []

    def recording_fit(image: GeneratedImage, limit: int) -> Upload:
        threads.append(threading.get_ident())
        return fit(image, limit)

    monkeypatch.setattr(images, "fit", recording_fit)
    medium = _generated(_encoded(_noise(320, 240, seed=9), "PNG"))
    await fit_all([medium], per_file=64 * KIB)
    assert threads
    assert threading.get_ident() not in threads


async def test_fit_all_untouched_images_skip_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fit(image: GeneratedImage, limit: int) -> Upload:
        raise AssertionError("small images must not be fitted")

    monkeypatch.setattr(images, "fit", failing_fit)
    small = GeneratedImage(data=b"x" * 100, content_type="image/png", width=1, height=1)
    uploads = await fit_all([small] * 4, per_file=10 * MIB)
    assert all(u.data is small.data for u in uploads)
    assert await fit_all([], per_file=10 * MIB) == []


async def test_fit_all_refuses_absurd_budgets() -> None:
    small = GeneratedImage(data=b"x" * 100, content_type="image/png", width=1, height=1)
    with pytest.raises(ValueError, match="at least 1 KiB"):
        await fit_all([small], per_file=100)
    with pytest.raises(ValueError, match="at least 1 KiB"):
        await fit_all([small] * 4, per_file=10 * MIB, total=REQUEST_OVERHEAD + 2 * KIB)


@st.composite
def _small_images(draw: st.DrawFn) -> GeneratedImage:
    mode = draw(st.sampled_from(["RGB", "RGBA", "L", "LA", "P"]))
    fmt = draw(st.sampled_from(["PNG", "JPEG", "WEBP"]))
    width = draw(st.integers(1, 64))
    height = draw(st.integers(1, 64))
    rng = random.Random(draw(st.integers(0, 2**32)))
    smooth = draw(st.booleans())
    picture = _noise(width, height, rng.randrange(2**32), mode="L" if mode == "P" else mode)
    if smooth:
        picture = picture.resize((2, 2)).resize((width, height), Image.Resampling.BILINEAR)
    if mode == "P":
        picture = picture.convert("P")
    if fmt == "JPEG":
        picture = picture.convert("L" if mode in ("L", "LA") else "RGB")
    return _generated(_encoded(picture, fmt))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=_small_images(), limit=st.integers(MIN_LIMIT, 6 * KIB))
def test_every_result_fits_and_decodes(image: GeneratedImage, limit: int) -> None:
    upload = fit(image, limit)
    _check(upload, limit)
    if len(image.data) <= limit:
        assert upload.data is image.data
    else:
        assert upload.reencoded is not None


# --- the guarded entry --------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = bombs.png_bomb()
    assert len(bomb) < 64 * KIB, "a few kilobytes that would decode to 1.2 GB"
    with pytest.raises(images.ImageRefused) as caught:
        images.probe(bomb)
    assert str(caught.value) == "the image is 400 megapixels; the limit is 40 megapixels"
    big = GeneratedImage(data=bomb, content_type="image/png", width=1, height=1)
    with pytest.raises(images.ImageRefused, match="400 megapixels"):
        fit(big, MIN_LIMIT)


def test_an_image_over_the_pixel_limit_is_refused_naming_its_size() -> None:
    with pytest.raises(images.ImageRefused) as caught:
        images.probe(bombs.wide_png())
    assert str(caught.value) == (
        "the image is 7000×7000 pixels (49 megapixels); the limit is 40 megapixels"
    )
    assert images.probe(bombs.wide_png(), max_pixels=50_000_000).width == 7000


@pytest.mark.parametrize("declared", ["image/png", "image/webp", "image/png; charset=binary"])
def test_a_file_that_is_not_the_image_its_type_says_is_refused(declared: str) -> None:
    with pytest.raises(images.ImageRefused) as caught:
        images.probe(bombs.small_jpeg(), declared=declared)
    claimed = declared.split(";")[0]
    assert str(caught.value) == (
        f"the file says it is {claimed} but is a JPEG image; a file must be the type it says"
    )


@pytest.mark.parametrize(
    "declared", [None, "", "image/jpeg", "image/jpg", "IMAGE/JPEG", "application/octet-stream"]
)
def test_a_type_that_agrees_or_says_nothing_is_accepted(declared: str | None) -> None:
    assert images.probe(bombs.small_jpeg(), declared=declared).content_type == "image/jpeg"


def test_other_formats_and_garbage_are_refused_saying_what_is_allowed() -> None:
    gif = _encoded(Image.new("RGB", (4, 4)), "GIF")
    with pytest.raises(images.ImageRefused, match="a GIF image; allowed: JPEG, PNG or WebP"):
        images.probe(gif)
    for junk in (b"", b"<html>expired</html>", b"\x89PNG\r\n\x1a\n" + bytes(64)):
        with pytest.raises(images.ImageRefused, match="not a readable image"):
            images.probe(junk)
