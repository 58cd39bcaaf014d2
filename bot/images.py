"""Reading what an image file really is, and fitting generated images under upload limits.

Every image the bot reads (a provider's result, a member's reference, a file the operator
passes to ``generate``) goes through ``probe`` and ``opened``: the header is read first,
and a file that is not an image, is not the type it says, or has more than ``MAX_PIXELS``
pixels is refused with ``ImageRefused`` before anything is decoded. Pillow's own errors
never leave this module.
"""

from __future__ import annotations

import asyncio
import io
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from PIL import Image

from bot.models import GeneratedImage

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# Spellings of the same type seen in the wild.
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}

# About ten FLUX Ultra images (4 MP each); decoding one takes some 120 MB of memory.
MAX_PIXELS = 40_000_000
ALLOWED_IMAGES = f"a JPEG, PNG or WebP image of at most {MAX_PIXELS // 1_000_000} megapixels"

MIN_LIMIT = 1024
REQUEST_LIMIT = 25 * 1024 * 1024
REQUEST_OVERHEAD = 256 * 1024

# Quality steps tried best first; a lossy result never goes below the last one before scaling.
QUALITIES: tuple[int, ...] = (92, 85, 78, 70, 60)
# Each downscale multiplies both sides by this, so area shrinks by about 28% per step.
SCALE_STEP = 0.85
# Lossless PNG is only attempted when a row sample predicts it lands within this of the limit.
_LOSSLESS_SLACK = 1.1
_SAMPLE_BANDS = 8
_SAMPLE_MIN_HEIGHT = 256
# libwebp effort: within a few per cent of the default's size at about half its time.
_WEBP_METHOD = 2
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_ALLOWED_TYPES = "allowed: JPEG, PNG or WebP"
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


class ImageRefused(ValueError):
    """Bytes the bot will not decode; the message names the problem and what is allowed."""


@dataclass(frozen=True)
class ImageInfo:
    """Type and size read from an image header."""

    content_type: str
    width: int
    height: int


def probe(data: bytes, *, declared: str | None = None, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Read type and pixel size from the header alone; ImageRefused for anything we won't decode.

    ``declared`` is the type the file came with (an HTTP Content-Type, an attachment's type):
    an image type that differs from what the bytes are is refused; anything else (none, or
    ``application/octet-stream``) is ignored.
    """
    with opened(data, declared=declared, max_pixels=max_pixels) as image:
        return ImageInfo(_MIME[image.format or ""], *image.size)


@contextmanager
def opened(
    data: bytes, *, declared: str | None = None, max_pixels: int = MAX_PIXELS
) -> Iterator[Image.Image]:
    """The image, checked from its header and not yet decoded: the one way in to Pillow."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        found = _BOMB_PIXELS.search(str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise ImageRefused(f"the image is {size}; the limit is {_megapixels(max_pixels)}") from None
    except Exception as exc:  # Pillow signals a bad file with many exception types
        raise ImageRefused("the file is not a readable image") from exc
    with image:
        mime = _MIME.get(image.format or "")
        if mime is None:
            raise ImageRefused(f"the file is a {image.format or 'unknown'} image; {_ALLOWED_TYPES}")
        claimed = _ALIASES.get(_bare(declared), _bare(declared))
        if claimed.startswith("image/") and claimed != mime:
            raise ImageRefused(
                f"the file says it is {claimed} but is a {_NAMES[mime]} image; "
                "a file must be the type it says"
            )
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageRefused("the image has no pixels")
        if width * height > max_pixels:
            raise ImageRefused(
                f"the image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
                f"the limit is {_megapixels(max_pixels)}"
            )
        yield image


def _bare(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:g} megapixels"


@dataclass(frozen=True)
class Upload:
    """One image ready to attach, with a note for the member when it had to change to fit."""

    data: bytes = field(repr=False)
    content_type: str
    width: int
    height: int
    reencoded: str | None = None

    @property
    def extension(self) -> str:
        """File extension matching the bytes actually sent, which may differ from the original."""
        return _EXTENSIONS.get(self.content_type, "bin")


def fit(image: GeneratedImage, limit: int) -> Upload:
    """Make one image's file at most ``limit`` bytes, so delivery never fails on size.

    Cheapest and most faithful first:

    1. Already within the limit: returned untouched, without decoding.
    2. PNG: re-encoded losslessly (``optimize=True``, zlib level 9) and kept as PNG if that
       fits. A sample of evenly spaced row bands is compressed first; when it predicts a
       result more than 10% over the limit (noise-like content) the full encode is skipped.
    3. Lossy, at the highest of the quality steps 92, 85, 78, 70, 60 that fits: 92 first,
       which fits in the common case, then 60, so a hopeless size goes straight to step 4,
       then a binary search of the steps between (at most four encodes). The format: JPEG
       input stays JPEG and WebP stays WebP; an image with real transparency becomes WebP
       with its alpha kept (Discord displays WebP); anything else becomes JPEG, with an
       opaque alpha channel dropped. JPEG rather than WebP for opaque images because at
       equal steps its files measured about the same size while encoding ten to thirty
       times faster, and it opens everywhere.
    4. If even the lowest step is too big, both sides are scaled by 0.85 per step (LANCZOS,
       always from the original, aspect ratio kept) to the largest size on that grid at
       which the lowest step fits, then the steps above are tried upwards (at the largest
       size that fits at all, the best step is usually one of the lowest). Rather than one
       step at a time, the bytes at the lowest step predict how many steps are needed, and
       an interpolation search (bytes as a power of area, fitted through the sizes already
       measured) backs off any overshoot, usually in two encodes. Sizes shrink strictly
       until 1×1, which fits any limit of at least 1 KiB, so this ends.

    ValueError for a limit under 1 KiB; ImageRefused for bytes ``probe`` would refuse or
    Pillow cannot decode.
    """
    _check_limit(limit)
    if len(image.data) <= limit:
        return _untouched(image)
    with opened(image.data) as source:
        try:
            source.load()
        except Exception as exc:
            raise ImageRefused("the file is not a readable image") from exc
        return _fitted(source, limit)


def _fitted(source: Image.Image, limit: int) -> Upload:
    source_format = source.format or ""
    icc = source.info.get("icc_profile")
    if icc and len(icc) > limit // 16:
        icc = None
    if source_format == "PNG":
        lossless = _optimised_png(source, limit, icc)
        if lossless is not None:
            return Upload(lossless, "image/png", *source.size, "PNG optimised")
    picture, has_alpha = _for_lossy(source)
    lossy_format = "WEBP" if source_format == "WEBP" or has_alpha else "JPEG"
    return _lossy(picture, lossy_format, limit, icc)


async def fit_all(
    images: Sequence[GeneratedImage],
    *,
    per_file: int,
    total: int = REQUEST_LIMIT,
    overhead: int = REQUEST_OVERHEAD,
) -> list[Upload]:
    """Fit a message's images under the per-file and whole-request limits off the event loop.

    Every image may use ``min(per_file, (total - overhead) // len(images))`` bytes; room
    left by images already smaller than that is shared among the others, so the files
    together never exceed ``total - overhead``. Small images are returned untouched
    without decoding; the rest are fitted one at a time in a worker thread, so only one
    decoded image is held at once. Results keep the order of ``images``.
    """
    _check_limit(per_file)
    if not images:
        return []
    budgets = _budgets([len(image.data) for image in images], per_file, total - overhead)
    uploads: list[Upload] = []
    for image, budget in zip(images, budgets, strict=True):
        if len(image.data) <= budget:
            uploads.append(_untouched(image))
        else:
            uploads.append(await asyncio.to_thread(fit, image, budget))
    return uploads


def _check_limit(limit: int) -> None:
    if limit < MIN_LIMIT:
        raise ValueError(f"a size limit of {limit} bytes is too small; it must be at least 1 KiB")


def _untouched(image: GeneratedImage) -> Upload:
    return Upload(image.data, image.content_type, image.width, image.height)


def _budgets(sizes: list[int], per_file: int, room: int) -> list[int]:
    budgets = [0] * len(sizes)
    pending = set(range(len(sizes)))
    while pending:
        share = min(per_file, room // len(pending))
        _check_limit(share)
        small = {i for i in pending if sizes[i] <= share} or pending
        for i in small:
            budgets[i] = share
            room -= sizes[i]
        pending -= small
    return budgets


def _encode(picture: Image.Image, fmt: str, icc: bytes | None, quality: int = 0) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        picture.save(out, "PNG", optimize=True, icc_profile=icc)
    elif fmt == "JPEG":
        picture.save(out, "JPEG", quality=quality, optimize=True, icc_profile=icc)
    else:
        picture.save(out, "WEBP", quality=quality, method=_WEBP_METHOD, icc_profile=icc)
    return out.getvalue()


def _optimised_png(picture: Image.Image, limit: int, icc: bytes | None) -> bytes | None:
    width, height = picture.size
    if height >= _SAMPLE_MIN_HEIGHT:
        band = height // (_SAMPLE_BANDS * 8)
        sample = picture.crop((0, 0, width, band * _SAMPLE_BANDS))
        for n in range(1, _SAMPLE_BANDS):
            top = n * height // _SAMPLE_BANDS
            sample.paste(picture.crop((0, top, width, top + band)), (0, n * band))
        estimate = len(_encode(sample, "PNG", icc)) * height / sample.height
        if estimate > limit * _LOSSLESS_SLACK:
            return None
    data = _encode(picture, "PNG", icc)
    return data if len(data) <= limit else None


def _opaque(alpha: Image.Image) -> bool:
    """Whether one alpha band is fully opaque (its lowest value is 255)."""
    low, _ = alpha.getextrema()
    return not isinstance(low, tuple) and low >= 255


def _for_lossy(picture: Image.Image) -> tuple[Image.Image, bool]:
    if "transparency" in picture.info:
        picture = picture.convert("LA" if picture.mode == "L" else "RGBA")
    elif picture.mode == "P":
        picture = picture.convert("RGB")
    if picture.mode in _ALPHA_MODES:
        colour = "L" if picture.mode.startswith("L") else "RGB"
        if not _opaque(picture.getchannel("A")):
            return picture.convert(colour + "A"), True
        return picture.convert(colour), False
    if picture.mode not in ("RGB", "L"):
        return picture.convert("RGB"), False
    return picture, False


def _lossy(picture: Image.Image, fmt: str, limit: int, icc: bytes | None) -> Upload:
    best, floor = QUALITIES[0], QUALITIES[-1]
    data = _encode(picture, fmt, icc, best)
    if len(data) <= limit:
        return _lossy_upload(data, fmt, best, picture.size, scaled=False)
    floor_data = _encode(picture, fmt, icc, floor)
    if len(floor_data) <= limit:
        quality, found = _highest_fitting(picture, fmt, limit, icc, QUALITIES[1:-1])
        if found is None:
            quality, found = floor, floor_data
        return _lossy_upload(found, fmt, quality, picture.size, scaled=False)
    failed, lowest = 0, len(floor_data)
    while True:
        fitting = failed + _steps_needed(lowest, limit)
        scaled = _scaled(picture, fitting)
        floor_data = _encode(scaled, fmt, icc, floor)
        if len(floor_data) <= limit:
            break
        if scaled.size == (1, 1):
            raise ValueError(f"cannot fit the image in {limit} bytes")
        failed, lowest = fitting, len(floor_data)
    while fitting - failed > 1:
        steps = _interpolated_steps(failed, lowest, fitting, len(floor_data), limit)
        candidate = _scaled(picture, steps)
        encoded = _encode(candidate, fmt, icc, floor)
        if len(encoded) <= limit:
            fitting, scaled, floor_data = steps, candidate, encoded
        else:
            failed, lowest = steps, len(encoded)
    quality, data = floor, floor_data
    for step in reversed(QUALITIES[:-1]):
        encoded = _encode(scaled, fmt, icc, step)
        if len(encoded) > limit:
            break
        quality, data = step, encoded
    return _lossy_upload(data, fmt, quality, scaled.size, scaled=True)


def _steps_needed(size: int, limit: int) -> int:
    return max(1, math.ceil(math.log(size / limit) / math.log(1 / SCALE_STEP**2)))


def _interpolated_steps(failed: int, too_big: int, fitting: int, fits: int, limit: int) -> int:
    # Bytes fall roughly as a power of the area; fit that power through the two measurements.
    per_step = math.log(fits / too_big) / (fitting - failed)
    if per_step >= 0:
        return (failed + fitting) // 2
    steps = failed + math.ceil(math.log(limit / too_big) / per_step)
    return min(max(steps, failed + 1), fitting - 1)


def _scaled(picture: Image.Image, steps: int) -> Image.Image:
    factor = SCALE_STEP**steps
    width, height = picture.size
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def _highest_fitting(
    picture: Image.Image, fmt: str, limit: int, icc: bytes | None, qualities: Sequence[int]
) -> tuple[int, bytes | None]:
    low, high = 0, len(qualities) - 1
    found: tuple[int, bytes | None] = (0, None)
    while low <= high:
        middle = (low + high) // 2
        data = _encode(picture, fmt, icc, qualities[middle])
        if len(data) <= limit:
            found = (qualities[middle], data)
            high = middle - 1
        else:
            low = middle + 1
    return found


def _lossy_upload(
    data: bytes, fmt: str, quality: int, size: tuple[int, int], *, scaled: bool
) -> Upload:
    name, mime = ("WebP", "image/webp") if fmt == "WEBP" else ("JPEG", "image/jpeg")
    note = f"re-encoded as {name} (quality {quality})"
    if scaled:
        note += f" and scaled to {size[0]}×{size[1]}"
    return Upload(data, mime, *size, note)
