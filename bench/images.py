"""How long fitting a FLUX-sized image under Discord's upload limits takes, and what comes out.

Two 2752×1536 (4.2 MP) PNGs built here with a seeded RNG: pure noise (the worst case for
every codec, about 12 MiB) and a photo-like picture (colour gradients, a soft texture and
per-pixel grain, about 10.6 MiB). Each is fitted under 10 MiB (Discord's default per-file
limit), 8 MiB, and the share ``fit_all`` gives each of four images in a 25 MiB request
(25 MiB less 256 KiB of overhead, over 4), then under 2 MiB and 300 KiB, which force the
lowest quality and downscaling. A translucent copy of the photo shows the WebP path, and
the last line is ``fit_all`` on four different 4 MP images under a 25 MiB request.

    .venv/bin/python -m bench.images [--repeat 3]

Times are the median of the repeats after one warm-up call, single-threaded, in this
process; figures only, nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import time

from PIL import Image

from bot.images import REQUEST_LIMIT, REQUEST_OVERHEAD, fit, fit_all
from bot.models import GeneratedImage

MIB = 1024 * 1024
WIDTH, HEIGHT = 2752, 1536
SHARE = (REQUEST_LIMIT - REQUEST_OVERHEAD) // 4
LIMITS: tuple[tuple[str, int], ...] = (
    ("10 MiB", 10 * MIB),
    ("8 MiB", 8 * MIB),
    ("25 MiB/4", SHARE),
    ("2 MiB", 2 * MIB),
    ("300 KiB", 300 * 1024),
)


def noise(width: int, height: int, seed: int) -> Image.Image:
    """Uniform random pixels: nothing for any codec to exploit."""
    data = random.Random(seed).randbytes(width * height * 3)
    return Image.frombytes("RGB", (width, height), data)


def photo(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour, mid-scale texture and fine grain, compressing roughly like a photo."""
    size = (width, height)
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    texture = noise(width // 8, height // 8, seed).resize(size, Image.Resampling.BICUBIC)
    return Image.blend(Image.blend(base, texture, 0.4), noise(width, height, seed + 1), 0.3)


def as_png(picture: Image.Image) -> GeneratedImage:
    """Encode as a provider would send it (default zlib level)."""
    out = io.BytesIO()
    picture.save(out, "PNG")
    return GeneratedImage(
        data=out.getvalue(), content_type="image/png", width=picture.width, height=picture.height
    )


def timed(image: GeneratedImage, limit: int, repeat: int) -> tuple[float, str]:
    """Median seconds for ``fit`` after a warm-up, and a line describing the result."""
    upload = fit(image, limit)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fit(image, limit)
        times.append(time.perf_counter() - start)
    result = (
        f"{len(upload.data) / MIB:6.2f} MiB {upload.extension:<4} "
        f"{upload.width}×{upload.height}  {upload.reencoded or 'untouched'}"
    )
    return statistics.median(times), result


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    translucent = photo(WIDTH, HEIGHT, 3).convert("RGBA")
    translucent.putalpha(Image.radial_gradient("L").resize((WIDTH, HEIGHT)))
    cases = {
        "noise": as_png(noise(WIDTH, HEIGHT, 1)),
        "photo": as_png(photo(WIDTH, HEIGHT, 2)),
        "photo+alpha": as_png(translucent),
    }
    print(f"{os.cpu_count()} CPUs; {WIDTH}×{HEIGHT} PNGs; median of {args.repeat}")
    for name, image in cases.items():
        print(f"\n{name}: {len(image.data) / MIB:.2f} MiB PNG")
        limits = LIMITS if name != "photo+alpha" else LIMITS[2:3] + LIMITS[4:]
        for label, limit in limits:
            seconds, result = timed(image, limit, args.repeat)
            print(f"  {label:>9}  {seconds * 1000:7.0f} ms  {result}")

    sizes = [(2752, 1536), (2048, 2048), (3136, 1344), (1536, 2752)]
    four = [as_png(photo(width, height, seed)) for seed, (width, height) in enumerate(sizes)]
    start = time.perf_counter()
    uploads = asyncio.run(fit_all(four, per_file=10 * MIB))
    seconds = time.perf_counter() - start
    total = sum(len(upload.data) for upload in uploads)
    print(
        f"\nfit_all, 4 photo-like 4 MP PNGs ({sum(len(i.data) for i in four) / MIB:.1f} MiB) "
        f"under 25 MiB: {seconds * 1000:.0f} ms, {total / MIB:.2f} MiB in all"
    )


if __name__ == "__main__":
    main()
