"""The admins' spend-per-day chart (PNG), drawn from report rows.

A pure function of its rows, with no I/O and no event loop: the chart takes a few
hundred milliseconds of CPU, so callers on the event loop run it with
``asyncio.to_thread``. It draws on its own ``Figure`` with the Agg canvas (never
pyplot's global state), so several charts may render on threads at once. matplotlib
is imported on the first chart: it takes half a second, which the command line's
other commands (and the CSV export, in ``bot.exports``) should not pay.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SpendRow = tuple[str, str, int, int]
"""(UTC day ``YYYY-MM-DD``, provider, credits, images), as ``GuildDirectory.spend_by_day``."""

CHART_SIZE = (1000, 500)
NO_SPEND = "No credits were spent in this period"


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def spend_chart(
    rows: Sequence[SpendRow],
    *,
    title: str,
    span: tuple[str, str] | None = None,
    size: tuple[int, int] = CHART_SIZE,
) -> bytes:
    """Credits spent per UTC day, one stacked colour per provider, as PNG bytes of ``size``.

    ``span`` (first and last day) widens the axis to the whole period, so quiet days show
    as gaps rather than disappearing. With no rows the chart says there was no spend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    width, height = size
    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    if not rows:
        axes.text(0.5, 0.5, NO_SPEND, ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _png(figure)
    spent: dict[str, dict[dt.date, int]] = {}
    for day, provider, credits, _ in rows:
        by_day = spent.setdefault(provider or "unknown", {})
        date = dt.date.fromisoformat(day)
        by_day[date] = by_day.get(date, 0) + credits
    seen = [date for by_day in spent.values() for date in by_day]
    first, last = min(seen), max(seen)
    if span is not None:
        first = min(first, dt.date.fromisoformat(span[0]))
        last = max(last, dt.date.fromisoformat(span[1]))
    days = _days(first, last)
    at = date2num(days)  # matplotlib's day numbers, which bar() takes and the date axis reads
    bottom = [0] * len(days)
    for provider in sorted(spent, key=lambda name: -sum(spent[name].values())):
        heights = [spent[provider].get(day, 0) for day in days]
        axes.bar(at, heights, bottom=bottom, width=0.8, label=provider)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.xaxis_date()
    locator = AutoDateLocator(maxticks=12)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_ylabel("credits")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(1, max(bottom)) * 1.1)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    return _png(figure)


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=figure.dpi)
    return out.getvalue()
