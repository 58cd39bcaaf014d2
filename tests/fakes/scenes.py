"""Safe images for measuring the NSFW classifier: drawn here, or shipped by matplotlib.

Nothing is downloaded and nothing explicit exists anywhere in this set. Every image is safe,
so every "nsfw" verdict on it is a false positive. The set leans on what the model is known
to confuse with skin: beige sand and dunes, peach fruit, flat skin-coloured paint, cartoon
people, and a real portrait (Grace Hopper, a US Navy photograph in the public domain, as
matplotlib ships it). A regression that pushes scores up (a channel swap, a lost mean, a
broken resize) shows there first.

``TRIGGER`` is the opposite: abstract skin-toned ellipses on a dark ground, found by a seeded
hill-climb against open_nsfw, that the model scores far above any threshold. It is not a
positive (there is nothing in it) and never counts in the safe set; it proves the classifier
can say "nsfw" at all, so a classifier that always answers "safe" fails the tests.

Sizes follow what providers return: FLUX Ultra's 2752×1536 (4.2 MP) both ways round, squares,
and a few small images; formats are JPEG, PNG and WebP.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Size = tuple[int, int]
ULTRA = (2752, 1536)
ULTRA_TALL = (1536, 2752)
SQUARE = (1024, 1024)
SMALL = (512, 384)

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    """One labelled image: its name, what draws it, its size and the format it is sent in."""

    name: str
    draw: Callable[[Size, random.Random], Image.Image]
    size: Size
    fmt: str

    def encoded(self, seed: int = 0) -> bytes:
        """The image as a provider would send it."""
        picture = self.draw(self.size, random.Random(f"{self.name}/{seed}"))
        out = io.BytesIO()
        options = {"quality": 90} if self.fmt in ("JPEG", "WEBP") else {"compress_level": 1}
        picture.convert("RGB").save(out, self.fmt, **options)
        return out.getvalue()


def _canvas(size: Size, top: RGB, bottom: RGB) -> Image.Image:
    """A vertical gradient from ``top`` to ``bottom``."""
    ramp = Image.linear_gradient("L").resize(size)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), ramp)


def _at(size: Size, *points: float) -> list[float]:
    """Fractions of the canvas turned into pixels (x, y, x, y, ...)."""
    return [p * size[i % 2] for i, p in enumerate(points)]


def _grain(picture: Image.Image, rng: random.Random, amount: float = 0.06) -> Image.Image:
    """Photo-like sensor noise."""
    noise = Image.effect_noise(picture.size, 40 + rng.random() * 20).convert("RGB")
    return Image.blend(picture, noise, amount)


def landscape(size: Size, rng: random.Random) -> Image.Image:
    """Mountains, a sun and a lake under a blue sky."""
    picture = _canvas(size, (70, 130, 210), (200, 225, 245))
    d = ImageDraw.Draw(picture)
    d.ellipse(_at(size, 0.72, 0.08, 0.84, 0.08 + 0.12 * size[0] / size[1]), fill=(255, 225, 120))
    for n in range(5):
        left = rng.uniform(-0.2, 0.7)
        peak = rng.uniform(0.25, 0.45)
        shade = 90 + n * 12
        d.polygon(
            _at(size, left, 0.7, left + 0.25, peak, left + 0.55, 0.7), fill=(shade, shade, 110)
        )
    d.rectangle(_at(size, 0, 0.7, 1, 1), fill=(40, 100, 150))
    d.rectangle(_at(size, 0, 0.66, 1, 0.72), fill=(50, 120, 60))
    return _grain(picture.filter(ImageFilter.GaussianBlur(2)), rng)


def beach(size: Size, rng: random.Random) -> Image.Image:
    """Sea, beige sand and a striped parasol: sand is the colour the model watches for."""
    picture = _canvas(size, (120, 180, 230), (170, 210, 240))
    d = ImageDraw.Draw(picture)
    d.rectangle(_at(size, 0, 0.45, 1, 0.62), fill=(30, 110, 170))
    d.polygon(_at(size, 0, 0.6, 1, 0.55, 1, 1, 0, 1), fill=(226, 196, 150))
    d.line(_at(size, 0.3, 0.45, 0.3, 0.85), fill=(90, 60, 40), width=max(3, size[0] // 200))
    for k in range(6):
        start = 180 + k * 30
        colour = (220, 40, 40) if k % 2 else (245, 245, 245)
        d.pieslice(_at(size, 0.15, 0.38, 0.45, 0.58), start, start + 30, fill=colour)
    return _grain(picture.filter(ImageFilter.GaussianBlur(1)), rng)


def dunes(size: Size, rng: random.Random) -> Image.Image:
    """Rolling sand dunes in warm beige and orange, lit from one side."""
    width, height = size
    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(0, 1, width)[None, :]
    phase = rng.uniform(0, math.tau)
    ridge = 0.5 + 0.5 * np.sin(9 * x + 4 * np.sin(3 * y + phase) + 14 * y)
    light = 0.75 + 0.25 * ridge
    colour = np.stack([225 * light, 165 * light, 115 * light], axis=-1)
    sky = y < 0.25
    colour = np.where(sky[..., None], np.array([150, 190, 235]), colour)
    return _grain(Image.fromarray(colour.astype(np.uint8)), rng)


def skyline(size: Size, rng: random.Random) -> Image.Image:
    """A city at night: dark towers with lit windows under a deep blue sky."""
    picture = _canvas(size, (10, 15, 50), (40, 40, 90))
    d = ImageDraw.Draw(picture)
    x = 0.0
    while x < 1:
        w = rng.uniform(0.05, 0.12)
        top = rng.uniform(0.3, 0.7)
        d.rectangle(_at(size, x, top, x + w, 1), fill=(20, 20, 30))
        for wx in np.arange(x + 0.01, x + w - 0.01, 0.02):
            for wy in np.arange(top + 0.02, 0.98, 0.04):
                if rng.random() < 0.4:
                    d.rectangle(_at(size, wx, wy, wx + 0.008, wy + 0.015), fill=(250, 220, 120))
        x += w + 0.01
    return picture


def forest(size: Size, rng: random.Random) -> Image.Image:
    """Rows of pine trees on a green hillside."""
    picture = _canvas(size, (150, 200, 230), (60, 120, 60))
    d = ImageDraw.Draw(picture)
    for _ in range(60):
        cx, base = rng.uniform(0, 1), rng.uniform(0.45, 1.05)
        h = rng.uniform(0.15, 0.35)
        d.rectangle(_at(size, cx - 0.005, base - 0.05, cx + 0.005, base), fill=(80, 50, 30))
        green = (20, rng.randint(70, 120), 30)
        d.polygon(
            _at(size, cx - 0.04, base - 0.04, cx, base - h, cx + 0.04, base - 0.04), fill=green
        )
    return _grain(picture, rng)


def portrait(size: Size, rng: random.Random) -> Image.Image:
    """A cartoon of a smiling person in a jumper: a face is skin, and safe."""
    picture = _canvas(size, (200, 210, 230), (170, 180, 200))
    d = ImageDraw.Draw(picture)
    skin = (rng.randint(190, 235), rng.randint(150, 190), rng.randint(120, 160))
    d.rectangle(_at(size, 0.25, 0.7, 0.75, 1), fill=(40, 80, 160))
    d.rectangle(_at(size, 0.45, 0.6, 0.55, 0.72), fill=skin)
    d.ellipse(_at(size, 0.33, 0.2, 0.67, 0.65), fill=skin)
    d.chord(_at(size, 0.31, 0.15, 0.69, 0.5), 180, 360, fill=(70, 40, 20))
    for ex in (0.43, 0.57):
        d.ellipse(_at(size, ex - 0.02, 0.4, ex + 0.02, 0.44), fill=(40, 30, 30))
    d.arc(_at(size, 0.42, 0.45, 0.58, 0.57), 20, 160, fill=(150, 60, 60), width=size[0] // 150)
    return _grain(picture.filter(ImageFilter.GaussianBlur(2)), rng)


def crowd(size: Size, rng: random.Random) -> Image.Image:
    """Many small figures in coloured clothes on a square."""
    picture = _canvas(size, (180, 200, 220), (150, 150, 150))
    d = ImageDraw.Draw(picture)
    for _ in range(40):
        x, y = rng.uniform(0.05, 0.95), rng.uniform(0.4, 0.95)
        s = 0.03 + 0.05 * y
        shirt = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        d.rectangle(_at(size, x - s / 3, y, x + s / 3, y + s), fill=shirt)
        d.ellipse(_at(size, x - s / 4, y - s / 2, x + s / 4, y), fill=(210, 170, 140))
    return _grain(picture, rng)


def fruit(size: Size, rng: random.Random) -> Image.Image:
    """A bowl of peaches and oranges on a wooden table."""
    picture = _canvas(size, (235, 225, 210), (120, 80, 50))
    d = ImageDraw.Draw(picture)
    d.chord(_at(size, 0.2, 0.35, 0.8, 0.85), 0, 180, fill=(230, 230, 235))
    for _ in range(9):
        x, y, r = rng.uniform(0.3, 0.7), rng.uniform(0.45, 0.6), rng.uniform(0.06, 0.09)
        tone = rng.choice([(245, 170, 120), (240, 140, 40), (250, 190, 150)])
        d.ellipse(_at(size, x - r, y - r, x + r, y + r), fill=tone)
    return _grain(picture.filter(ImageFilter.GaussianBlur(3)), rng)


def pizza(size: Size, rng: random.Random) -> Image.Image:
    """A pizza seen from above on a checked tablecloth."""
    picture = Image.new("RGB", size, (240, 240, 240))
    d = ImageDraw.Draw(picture)
    step = max(size) // 12
    for x in range(0, size[0], step):
        for y in range(0, size[1], step):
            if (x // step + y // step) % 2:
                d.rectangle((x, y, x + step, y + step), fill=(200, 30, 40))
    d.ellipse(_at(size, 0.2, 0.1, 0.8, 0.9), fill=(220, 170, 90))
    d.ellipse(_at(size, 0.24, 0.15, 0.76, 0.85), fill=(200, 60, 30))
    for _ in range(14):
        x, y = rng.uniform(0.32, 0.68), rng.uniform(0.25, 0.75)
        d.ellipse(_at(size, x - 0.03, y - 0.03, x + 0.03, y + 0.03), fill=(150, 30, 30))
    return _grain(picture.filter(ImageFilter.GaussianBlur(2)), rng)


def mondrian(size: Size, rng: random.Random) -> Image.Image:
    """Primary-coloured rectangles between thick black lines."""
    picture = Image.new("RGB", size, (245, 240, 230))
    d = ImageDraw.Draw(picture)
    width = max(4, size[0] // 80)
    for _ in range(8):
        x0, y0 = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
        colour = rng.choice([(200, 30, 30), (30, 60, 160), (240, 200, 30), (245, 240, 230)])
        box = _at(size, x0, y0, x0 + rng.uniform(0.1, 0.4), y0 + rng.uniform(0.1, 0.4))
        d.rectangle(box, fill=colour, outline=(0, 0, 0), width=width)
    return picture


def fractal(size: Size, rng: random.Random) -> Image.Image:
    """The Mandelbrot set in false colour."""
    zoom = rng.uniform(0.8, 1.2)
    grey = Image.effect_mandelbrot(size, (-2.2 * zoom, -1.2, 1.0 * zoom, 1.2), 100)
    return Image.merge(
        "RGB", (grey, grey.point(lambda v: (v * 3) % 256), grey.point(lambda v: 255 - v))
    )


def bricks(size: Size, rng: random.Random) -> Image.Image:
    """A red brick wall."""
    picture = Image.new("RGB", size, (180, 180, 170))
    d = ImageDraw.Draw(picture)
    bw, bh = size[0] // 10, size[1] // 20
    for row in range(21):
        offset = (row % 2) * bw // 2
        for col in range(-1, 11):
            red = (rng.randint(140, 180), rng.randint(50, 70), rng.randint(40, 60))
            x, y = col * bw + offset, row * bh
            d.rectangle((x + 3, y + 3, x + bw - 3, y + bh - 3), fill=red)
    return _grain(picture, rng)


def stars(size: Size, rng: random.Random) -> Image.Image:
    """A night sky full of stars over a dark hill."""
    picture = _canvas(size, (0, 0, 20), (20, 20, 60))
    d = ImageDraw.Draw(picture)
    for _ in range(600):
        x, y = rng.random() * size[0], rng.random() * size[1]
        r = rng.random() * 2 + 0.5
        d.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, rng.randint(200, 255)))
    d.ellipse(_at(size, -0.2, 0.8, 1.2, 1.6), fill=(10, 15, 10))
    return picture


def underwater(size: Size, rng: random.Random) -> Image.Image:
    """Blue water with orange fish."""
    picture = _canvas(size, (40, 150, 200), (5, 30, 80))
    d = ImageDraw.Draw(picture)
    for _ in range(15):
        x, y, s = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.02, 0.05)
        d.ellipse(_at(size, x - 2 * s, y - s, x + 2 * s, y + s), fill=(250, 130, 30))
        d.polygon(_at(size, x + 2 * s, y, x + 3 * s, y - s, x + 3 * s, y + s), fill=(250, 130, 30))
    return _grain(picture.filter(ImageFilter.GaussianBlur(2)), rng)


def poster(size: Size, rng: random.Random) -> Image.Image:
    """Large text on a coloured poster."""
    picture = _canvas(size, (250, 200, 60), (240, 120, 40))
    d = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(size) // 10)
    for n, word in enumerate(("SUMMER", "FAIR", "SAT 10AM")):
        d.text(_at(size, 0.08, 0.15 + n * 0.25), word, fill=(30, 30, 60), font=font)
    return picture


def skin_wall(size: Size, rng: random.Random) -> Image.Image:
    """A wall painted flat peach: the plainest thing the model mistakes for skin."""
    return _grain(Image.new("RGB", size, (222, 178, 150)), rng, 0.03)


def photo(size: Size, rng: random.Random) -> Image.Image:
    """Smooth colour, texture and grain that compress like a photo (as in bench.images)."""
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    small = (size[0] // 8, size[1] // 8)
    texture = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3))
    return Image.blend(base, texture.resize(size, Image.Resampling.BICUBIC), 0.4)


def noise(size: Size, rng: random.Random) -> Image.Image:
    """Uniform random pixels."""
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def _sample(name: str) -> Image.Image:
    from matplotlib import cbook

    with cbook.get_sample_data(name) as source:
        data = source.read()
    if name.endswith(".ima.gz"):  # get_sample_data has already unzipped it
        scan = np.frombuffer(data, np.uint16).reshape(256, 256)
        return Image.fromarray((scan / scan.max() * 255).astype(np.uint8)).convert("RGB")
    with Image.open(io.BytesIO(data)) as picture:
        return picture.convert("RGB")


def grace_hopper(size: Size, rng: random.Random) -> Image.Image:
    """A real portrait photograph (public domain), scaled to ``size``."""
    return _sample("grace_hopper.jpg").resize(size, Image.Resampling.LANCZOS)


def present(size: Size, rng: random.Random) -> Image.Image:
    """matplotlib's sample picture of a wrapped present."""
    return _sample("Minduka_Present_Blue_Pack.png").resize(size, Image.Resampling.LANCZOS)


def brain_scan(size: Size, rng: random.Random) -> Image.Image:
    """An MRI slice of a head, as matplotlib ships it."""
    return _sample("s1045.ima.gz").resize(size, Image.Resampling.BICUBIC)


def relief(size: Size, rng: random.Random) -> Image.Image:
    """A shaded-relief map of real terrain (matplotlib's elevation sample)."""
    from matplotlib import cbook, colormaps
    from matplotlib.colors import LightSource

    elevation = cbook.get_sample_data("jacksboro_fault_dem.npz")["elevation"]
    shaded = LightSource(azdeg=315, altdeg=45).shade(
        elevation, cmap=colormaps["gist_earth"], blend_mode="overlay", vert_exag=0.05
    )
    picture = Image.fromarray((shaded[..., :3] * 255).astype(np.uint8))
    return picture.resize(size, Image.Resampling.BICUBIC)


def chart(size: Size, rng: random.Random) -> Image.Image:
    """The admins' spend chart the bot itself draws."""
    from bot.charts import spend_chart

    rows = [
        (f"2026-05-{day:02d}", provider, rng.randint(0, 40), rng.randint(0, 8))
        for day in range(1, 15)
        for provider in ("bfl", "fal", "replicate")
    ]
    with Image.open(io.BytesIO(spend_chart(rows, title="Spend", size=size))) as picture:
        return picture.convert("RGB")


# Twelve skin-toned ellipses (x0, y0, x1, y1 as fractions, colour) on a dark ground.
_TRIGGER_ELLIPSES: tuple[tuple[float, float, float, float, RGB], ...] = (
    (0.277, 0.125, 0.551, 0.234, (230, 178, 156)),
    (0.473, 0.188, 1.0, 0.680, (195, 188, 138)),
    (0.875, 0.090, 0.945, 0.473, (213, 153, 119)),
    (0.164, 0.0, 0.277, 0.617, (196, 156, 119)),
    (0.0, 0.789, 0.398, 0.844, (234, 176, 157)),
    (0.441, 0.352, 1.0, 0.992, (212, 154, 153)),
    (0.363, 0.156, 0.504, 0.828, (225, 142, 155)),
    (0.301, 0.258, 0.711, 0.281, (221, 150, 139)),
    (0.453, 0.574, 0.949, 0.758, (200, 151, 134)),
    (0.785, 0.012, 0.949, 0.484, (230, 173, 137)),
    (0.352, 0.172, 0.746, 0.746, (218, 182, 142)),
    (0.215, 0.246, 0.820, 0.848, (217, 164, 144)),
)


def trigger(size: Size, rng: random.Random) -> Image.Image:
    """Abstract blurred skin-toned ellipses that open_nsfw scores as nsfw (see module doc)."""
    picture = Image.new("RGB", size, (60, 40, 40))
    d = ImageDraw.Draw(picture)
    for x0, y0, x1, y1, colour in _TRIGGER_ELLIPSES:
        d.ellipse(_at(size, x0, y0, x1, y1), fill=colour)
    return picture.filter(ImageFilter.GaussianBlur(max(size) / 64))


SAFE: tuple[Scene, ...] = (
    Scene("landscape", landscape, ULTRA, "JPEG"),
    Scene("landscape-small", landscape, SMALL, "PNG"),
    Scene("beach", beach, ULTRA, "JPEG"),
    Scene("beach-square", beach, SQUARE, "WEBP"),
    Scene("dunes", dunes, ULTRA, "PNG"),
    Scene("dunes-tall", dunes, ULTRA_TALL, "JPEG"),
    Scene("skyline", skyline, ULTRA, "PNG"),
    Scene("forest", forest, ULTRA_TALL, "JPEG"),
    Scene("portrait", portrait, ULTRA_TALL, "JPEG"),
    Scene("portrait-square", portrait, SQUARE, "PNG"),
    Scene("crowd", crowd, ULTRA, "WEBP"),
    Scene("fruit", fruit, SQUARE, "JPEG"),
    Scene("fruit-wide", fruit, ULTRA, "PNG"),
    Scene("pizza", pizza, SQUARE, "JPEG"),
    Scene("mondrian", mondrian, SQUARE, "PNG"),
    Scene("fractal", fractal, ULTRA, "PNG"),
    Scene("bricks", bricks, ULTRA, "JPEG"),
    Scene("stars", stars, ULTRA, "JPEG"),
    Scene("underwater", underwater, ULTRA_TALL, "WEBP"),
    Scene("poster", poster, ULTRA_TALL, "PNG"),
    Scene("skin-wall", skin_wall, SQUARE, "JPEG"),
    Scene("photo", photo, ULTRA, "PNG"),
    Scene("noise", noise, ULTRA, "PNG"),
    Scene("grace-hopper", grace_hopper, (1024, 1200), "JPEG"),
    Scene("grace-hopper-small", grace_hopper, (512, 600), "PNG"),
    Scene("present", present, SQUARE, "PNG"),
    Scene("brain-scan", brain_scan, SQUARE, "PNG"),
    Scene("relief", relief, ULTRA, "JPEG"),
    Scene("chart", chart, (1000, 500), "PNG"),
)

TRIGGER = Scene("trigger", trigger, SQUARE, "PNG")
