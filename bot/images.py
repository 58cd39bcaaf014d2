"""Reading what an image file really is, from its bytes rather than what a provider claims."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ImageInfo:
    """Type and size read from an image header."""

    content_type: str
    width: int
    height: int


def probe(data: bytes) -> ImageInfo:
    """Read type and pixel size from the header alone; ValueError if it is not an image we post."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError("not a readable image") from exc
    mime = _MIME.get(fmt or "")
    if mime is None:
        raise ValueError(f"unsupported image format {fmt}")
    return ImageInfo(mime, width, height)
