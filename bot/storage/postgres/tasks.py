"""The provider task log in PostgreSQL (see ``bot.storage.sqlite.tasks`` for the states).

Run inside the unit that changes the job itself, so a job's status and its tasks' states
never disagree. Money is kept in millionths of a US dollar.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from bot.handles import Intent
from bot.storage.records import ProviderSpend, TaskRow
from bot.storage.rules import tally_spend


async def record_intent(
    conn: asyncpg.Connection,
    *,
    job_id: int,
    guild_id: int,
    intent: Intent,
    micros_per_image: int,
) -> None:
    """One row per planned task, before the submit leaves: a crash now leaves a trace."""
    await conn.executemany(
        "INSERT INTO provider_tasks (job_id, guild_id, provider, token, idx, images, state,"
        " cost_micros, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'intent', $7,"
        " $8, $8)",
        [
            (
                job_id,
                guild_id,
                intent.provider,
                intent.token,
                index,
                images,
                images * micros_per_image,
                float(intent.at),
            )
            for index, images in enumerate(intent.images)
        ],
    )


async def record_answer(
    conn: asyncpg.Connection,
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
    at = float(at)
    await conn.executemany(
        "UPDATE provider_tasks SET state = 'created', task_id = $1, billed = TRUE,"
        " updated_at = $2 WHERE token = $3 AND idx = $4",
        [(task_id, at, token, index) for index, task_id in created],
    )
    await conn.executemany(
        "UPDATE provider_tasks SET state = 'unknown', billed = NULL, reason = $1,"
        " updated_at = $2 WHERE token = $3 AND idx = $4",
        [("the submit's answer was lost", at, token, index) for index in unknown],
    )
    await conn.executemany(
        "UPDATE provider_tasks SET state = 'failed', billed = $1, reason = $2, updated_at = $3"
        " WHERE token = $4 AND idx = $5",
        [(ended_billed, "ended at the submit", at, token, i) for i in ended],
    )
    await conn.execute(
        "UPDATE provider_tasks SET state = 'refused', billed = FALSE, updated_at = $1"
        " WHERE token = $2 AND state = 'intent'",
        at,
        token,
    )


async def end_attempt(
    conn: asyncpg.Connection,
    token: str,
    *,
    state: str,
    billed: bool | None,
    reason: str,
    at: float,
    indices: Sequence[int] | None = None,
) -> None:
    """Close the attempt's open tasks (all, or only ``indices``) in ``state``."""
    await conn.execute(
        "UPDATE provider_tasks SET state = $1, billed = $2, reason = $3, updated_at = $4"
        " WHERE token = $5 AND state IN ('intent', 'created')"
        " AND ($6::integer[] IS NULL OR idx = ANY($6::integer[]))",
        state,
        billed,
        reason,
        float(at),
        token,
        None if indices is None else list(indices),
    )


async def end_job(
    conn: asyncpg.Connection,
    job_id: int,
    *,
    state: str,
    billed: bool,
    reason: str | None,
    at: float,
) -> None:
    """The job ended: its tasks still open end with it (made tasks delivered, lost, ...)."""
    await conn.execute(
        "UPDATE provider_tasks SET state = $1, billed = $2, reason = COALESCE($3, reason),"
        " updated_at = $4 WHERE job_id = $5 AND state = 'created'",
        state,
        billed,
        reason,
        float(at),
        job_id,
    )
    await conn.execute(
        "UPDATE provider_tasks SET state = 'unknown', billed = NULL,"
        " reason = 'the job ended before the submit was answered', updated_at = $1"
        " WHERE job_id = $2 AND state = 'intent'",
        float(at),
        job_id,
    )


async def open_intent(conn: asyncpg.Connection, job_id: int) -> Intent | None:
    """The job's latest submit still awaiting its answer (what a restart must settle)."""
    rows = await conn.fetch(
        "SELECT provider, token, idx, images, created_at FROM provider_tasks"
        " WHERE job_id = $1 AND state = 'intent' ORDER BY id",
        job_id,
    )
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


def _period(
    since: float, until: float, guild_id: int | None, job_id: int | None = None
) -> tuple[str, list[Any]]:
    where = "created_at >= $1 AND created_at < $2"
    params: list[Any] = [float(since), float(until)]
    for column, value in (("guild_id", guild_id), ("job_id", job_id)):
        if value is not None:
            params.append(value)
            where += f" AND {column} = ${len(params)}"
    return where, params


async def rows(
    conn: asyncpg.Connection,
    *,
    since: float,
    until: float,
    guild_id: int | None = None,
    job_id: int | None = None,
) -> list[TaskRow]:
    """Every task created in the period (optionally one guild's or one job's), oldest first."""
    where, params = _period(since, until, guild_id, job_id)
    found = await conn.fetch(
        "SELECT job_id, guild_id, provider, task_id, state, images, billed, cost_micros,"
        f" reason, created_at FROM provider_tasks WHERE {where} ORDER BY id",
        *params,
    )
    return [TaskRow(*row) for row in found]


async def spend(
    conn: asyncpg.Connection, *, since: float, until: float, guild_id: int | None = None
) -> list[ProviderSpend]:
    """Each provider's tasks sent in the period (one guild's, or every guild's), by provider."""
    where, params = _period(since, until, guild_id)
    found = await conn.fetch(
        "SELECT provider, state, billed, images, cost_micros FROM provider_tasks"
        f" WHERE {where} AND state NOT IN ('intent', 'refused')",
        *params,
    )
    return tally_spend(tuple(row) for row in found)
