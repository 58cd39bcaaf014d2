"""The ledger as a CSV file: what admins export and what the command line writes."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable

from bot.money import usd
from bot.storage.records import LedgerEntry, TaskRow

CSV_COLUMNS = (
    "time",
    "day",
    "user_id",
    "kind",
    "amount",
    "charged",
    "job_id",
    "provider",
    "images",
    "actor_id",
    "note",
)
# A cell starting with one of these is a formula to spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    return str(value)


def _text(value: str | None) -> str:
    """Free text (an admin's note) made inert for spreadsheets: a leading formula
    character is escaped with an apostrophe, as OWASP advises for CSV exports."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def iso_time(at: float) -> str:
    """A timestamp as ISO 8601 in UTC, to the millisecond (``2025-01-31T12:00:00.000+00:00``)."""
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds")


def ledger_csv(entries: Iterable[LedgerEntry]) -> str:
    """The ledger export: a header, then one row per movement, oldest first as given."""
    return _table(
        CSV_COLUMNS,
        (
            (
                iso_time(e.at),
                e.day,
                e.user_id,
                e.kind,
                e.amount,
                e.charged,
                _cell(e.job_id),
                _text(e.provider),
                e.images,
                _cell(e.actor_id),
                _text(e.note),
            )
            for e in entries
        ),
    )


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A CSV file's text: the header, then the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


TASK_COLUMNS = (
    "time",
    "provider",
    "task_id",
    "job_id",
    "guild_id",
    "state",
    "images",
    "billed",
    "cost_usd",
    "reason",
)


def tasks_csv(rows: Iterable[TaskRow]) -> str:
    """Every task sent to a provider, with its id: the lines to tick off against an invoice.

    ``billed`` is yes, no (refused, or an outcome the provider does not bill) or unknown
    (the submit's answer was lost: look the time up on the provider's dashboard).
    """
    return _table(
        TASK_COLUMNS,
        (
            (
                iso_time(row.created_at),
                row.provider,
                _text(row.task_id),
                row.job_id,
                row.guild_id,
                row.state,
                row.images,
                {True: "yes", False: "no", None: "unknown"}[row.billed],
                usd(row.cost_micros).lstrip("$").replace(",", ""),
                _text(row.reason),
            )
            for row in rows
        ),
    )
