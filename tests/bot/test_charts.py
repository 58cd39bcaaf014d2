"""The spend chart and the ledger CSV: valid files, whatever the rows."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io

import pytest
from PIL import Image

from bot.charts import spend_chart
from bot.exports import CSV_COLUMNS, iso_time, ledger_csv
from bot.storage.records import LedgerEntry

ROWS = [
    ("2025-03-01", "bfl", 12, 2),
    ("2025-03-01", "fal", 30, 5),
    ("2025-03-03", "fal", 6, 1),
    ("2025-03-03", "replicate", 18, 3),
    ("2025-03-07", "wavespeed", 0, 1),
]


def opened(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def colours(image: Image.Image) -> set[tuple[int, ...]]:
    """The distinct colours of the image (a few hundred at most for a flat chart)."""
    found = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert found is not None
    return {colour for count, colour in found if count > 200}


def test_a_chart_is_a_png_of_the_asked_size() -> None:
    png = spend_chart(ROWS, title="Credits spent per day")
    image = opened(png)
    assert image.format == "PNG"
    assert image.size == (1000, 500)
    assert opened(spend_chart(ROWS, title="t", size=(640, 360))).size == (640, 360)


def test_each_provider_gets_its_own_colour() -> None:
    one = colours(opened(spend_chart(ROWS[1:2], title="t")))
    several = colours(opened(spend_chart(ROWS, title="t")))
    assert len(several) >= len(one) + 3, "bfl, replicate and wavespeed add their colours"


def test_the_span_widens_the_axis_to_the_whole_period() -> None:
    narrow = spend_chart(ROWS[:2], title="t")
    wide = spend_chart(ROWS[:2], title="t", span=("2025-02-20", "2025-03-21"))
    assert opened(wide).size == opened(narrow).size
    assert narrow != wide


def test_no_spend_is_a_chart_that_says_so() -> None:
    image = opened(spend_chart([], title="Credits spent per day"))
    assert image.size == (1000, 500)
    assert len(colours(image)) <= 3, "no bars, no axes: text on white"


def test_only_free_images_still_draw() -> None:
    assert opened(spend_chart([("2025-03-07", "fal", 0, 3)], title="t")).format == "PNG"


async def test_charts_render_on_threads_at_once() -> None:
    pngs = await asyncio.gather(
        *(asyncio.to_thread(spend_chart, ROWS[: n + 1], title=f"{n}") for n in range(4))
    )
    assert all(opened(png).size == (1000, 500) for png in pngs)


def entry(movement: int, **fields: object) -> LedgerEntry:
    base: dict[str, object] = {
        "movement": movement,
        "at": 1_741_608_000.123,
        "day": "2025-03-10",
        "user_id": 1002,
        "kind": "settle",
        "amount": 4,
        "charged": 12,
        "job_id": 7,
        "provider": "fal",
        "images": 2,
        "actor_id": None,
        "note": None,
    }
    base.update(fields)
    return LedgerEntry(**base)  # type: ignore[arg-type]


def test_the_csv_parses_back_to_the_entries() -> None:
    grant = entry(
        3,
        kind="grant",
        amount=-5,
        charged=0,
        job_id=None,
        provider=None,
        images=0,
        actor_id=1005,
        note='a "quoted", multi\nline note',
    )
    entries = [entry(1), grant]
    rows = list(csv.DictReader(io.StringIO(ledger_csv(entries))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0] == {
        "time": "2025-03-10T12:00:00.123+00:00",
        "day": "2025-03-10",
        "user_id": "1002",
        "kind": "settle",
        "amount": "4",
        "charged": "12",
        "job_id": "7",
        "provider": "fal",
        "images": "2",
        "actor_id": "",
        "note": "",
    }
    assert rows[1]["note"] == 'a "quoted", multi\nline note'
    assert (rows[1]["amount"], rows[1]["job_id"], rows[1]["actor_id"]) == ("-5", "", "1005")
    assert dt.datetime.fromisoformat(rows[0]["time"]).timestamp() == pytest.approx(
        entries[0].at, abs=1e-3
    )


@pytest.mark.parametrize("note", ["=SUM(A1)", "+1", "-1", "@cmd", "\tx"])
def test_a_note_that_looks_like_a_formula_is_made_inert(note: str) -> None:
    [row] = csv.DictReader(io.StringIO(ledger_csv([entry(1, note=note)])))
    assert row["note"] == "'" + note


def test_an_empty_ledger_is_just_the_header() -> None:
    assert ledger_csv([]) == ",".join(CSV_COLUMNS) + "\n"


def test_times_are_iso_8601_in_utc() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00.000+00:00"
