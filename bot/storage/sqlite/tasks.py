"""The provider task log: what the bot asked each provider for and how each task ended.

Functions of a ``sqlite3.Connection``, run inside ``Database.write`` together with the job's
own change, so a job's status and its tasks' states never disagree. An intent is written
before the submit leaves; the answer (or its loss) updates the same rows; the job's end
closes them. Money is kept in millionths of a US dollar.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from bot.handles import Intent
from bot.storage.records import ProviderSpend, TaskRow
from bot.storage.rules import tally_spend

OPEN = ("intent", "created")


def record_intent(
    conn: sqlite3.Connection,
    *,
    job_id: int,
    guild_id: int,
    intent: Intent,
    micros_per_image: int,
) -> None:
    """One row per planned task, before the submit leaves: a crash now leaves a trace."""
    conn.executemany(
        "INSERT INTO provider_tasks (job_id, guild_id, provider, token, idx, images, state,"
        " cost_micros, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'intent', ?, ?, ?)",
        [
            (
                job_id,
                guild_id,
                intent.provider,
                intent.token,
                index,
                images,
                images * micros_per_image,
                intent.at,
                intent.at,
            )
            for index, images in enumerate(intent.images)
        ],
    )


def record_answer(
    conn: sqlite3.Connection,
    token: str,
    *,
    created: Iterable[tuple[int, str]],
    unknown: Iterable[int],
    ended: Iterable[int],
    ended_billed: bool,
    at: float,
) -> None:
    """The provider's answer to an attempt: tasks made (with their ids), in doubt, made and
    already ended; every other planned task was refused and never billed."""
    conn.executemany(
        "UPDATE provider_tasks SET state = 'created', task_id = ?, billed = 1, updated_at = ?"
        " WHERE token = ? AND idx = ?",
        [(task_id, at, token, index) for index, task_id in created],
    )
    conn.executemany(
        "UPDATE provider_tasks SET state = 'unknown', billed = NULL, reason = ?, updated_at = ?"
        " WHERE token = ? AND idx = ?",
        [("the submit's answer was lost", at, token, index) for index in unknown],
    )
    conn.executemany(
        "UPDATE provider_tasks SET state = 'failed', billed = ?, reason = ?, updated_at = ?"
        " WHERE token = ? AND idx = ?",
        [(int(ended_billed), "ended at the submit", at, token, i) for i in ended],
    )
    conn.execute(
        "UPDATE provider_tasks SET state = 'refused', billed = 0, updated_at = ?"
        " WHERE token = ? AND state = 'intent'",
        (at, token),
    )


def end_attempt(
    conn: sqlite3.Connection,
    token: str,
    *,
    state: str,
    billed: bool | None,
    reason: str,
    at: float,
    indices: Sequence[int] | None = None,
) -> None:
    """Close the attempt's open tasks (all, or only ``indices``) in ``state``."""
    where = "token = ? AND state IN ('intent', 'created')"
    params: list[object] = [token]
    if indices is not None:
        where += f" AND idx IN ({', '.join('?' * len(indices))})"
        params += list(indices)
    conn.execute(
        "UPDATE provider_tasks SET state = ?, billed = ?, reason = ?, updated_at = ?"
        f" WHERE {where}",
        [state, None if billed is None else int(billed), reason, at, *params],
    )


def end_job(
    conn: sqlite3.Connection,
    job_id: int,
    *,
    state: str,
    billed: bool,
    reason: str | None,
    at: float,
) -> None:
    """The job ended: its tasks still open end with it (made tasks delivered, lost, ...)."""
    conn.execute(
        "UPDATE provider_tasks SET state = ?, billed = ?, reason = COALESCE(?, reason),"
        " updated_at = ? WHERE job_id = ? AND state = 'created'",
        (state, int(billed), reason, at, job_id),
    )
    conn.execute(
        "UPDATE provider_tasks SET state = 'unknown', billed = NULL,"
        " reason = 'the job ended before the submit was answered', updated_at = ?"
        " WHERE job_id = ? AND state = 'intent'",
        (at, job_id),
    )


def open_intent(conn: sqlite3.Connection, job_id: int) -> Intent | None:
    """The job's latest submit still awaiting its answer (what a restart must settle)."""
    rows = conn.execute(
        "SELECT provider, token, idx, images, created_at FROM provider_tasks"
        " WHERE job_id = ? AND state = 'intent' ORDER BY id",
        (job_id,),
    ).fetchall()
    if not rows:
        return None
    token = rows[-1][1]
    mine = sorted((row for row in rows if row[1] == token), key=lambda row: row[2])
    return Intent(
        provider=mine[0][0],
        token=token,
        images=tuple(row[3] for row in mine),
        at=mine[0][4],
    )


def rows(
    conn: sqlite3.Connection,
    *,
    since: float,
    until: float,
    guild_id: int | None = None,
    job_id: int | None = None,
) -> list[TaskRow]:
    """Every task created in the period (optionally one guild's or one job's), oldest first."""
    where, params = "created_at >= ? AND created_at < ?", [since, until]
    if guild_id is not None:
        where += " AND guild_id = ?"
        params.append(guild_id)
    if job_id is not None:
        where += " AND job_id = ?"
        params.append(job_id)
    found = conn.execute(
        "SELECT job_id, guild_id, provider, task_id, state, images, billed, cost_micros,"
        f" reason, created_at FROM provider_tasks WHERE {where} ORDER BY id",
        params,
    ).fetchall()
    return [
        TaskRow(j, g, p, t, s, n, None if b is None else bool(b), c, r, at)
        for j, g, p, t, s, n, b, c, r, at in found
    ]


def spend(
    conn: sqlite3.Connection, *, since: float, until: float, guild_id: int | None = None
) -> list[ProviderSpend]:
    """Each provider's tasks sent in the period (one guild's, or every guild's), by provider."""
    where, params = "created_at >= ? AND created_at < ?", [since, until]
    if guild_id is not None:
        where += " AND guild_id = ?"
        params.append(guild_id)
    return tally_spend(
        conn.execute(
            "SELECT provider, state, billed, images, cost_micros FROM provider_tasks"
            f" WHERE {where} AND state NOT IN ('intent', 'refused')",
            params,
        )
    )
