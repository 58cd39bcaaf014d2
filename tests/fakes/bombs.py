"""Hostile image files: what a compromised provider or a member could send the bot."""

from __future__ import annotations

import functools
import io

from PIL import Image


@functools.cache
def png_bomb() -> bytes:
    """A 20000×20000 PNG of some 48 KB: 400 megapixels once decoded (1.2 GB as RGB)."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG", optimize=True)
    return out.getvalue()


@functools.cache
def wide_png(width: int = 7000, height: int = 7000) -> bytes:
    """A plain PNG over the bot's pixel limit but under Pillow's own bomb threshold."""
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, "PNG")
    return out.getvalue()


@functools.cache
def small_jpeg() -> bytes:
    """A real JPEG, to be sent under another type's name."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()
