"""Jobs and their fetched images in PostgreSQL; functions run inside one unit's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from bot.jobs import Job, sources_of
from bot.models import GeneratedImage, GenerationRequest, JobStatus
from bot.storage.rows import JOB_COLUMNS, UPDATABLE, encode_field, job_from_row

UNFINISHED = ("queued", "submitting", "submitted", "fetched")


async def insert(
    conn: asyncpg.Connection,
    *,
    guild_id: int,
    user_id: int,
    channel_id: int,
    age_restricted: bool,
    request: GenerationRequest,
    hold: int,
    context: dict[str, Any],
    at: float,
) -> Job:
    """Store a new queued job and return it with its id (from the table's identity)."""
    job_id = await conn.fetchval(
        "INSERT INTO jobs (guild_id, user_id, channel_id, age_restricted, status, request, hold,"
        " context, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $8)"
        " RETURNING id",
        guild_id,
        user_id,
        channel_id,
        age_restricted,
        request.model_dump_json(),
        hold,
        encode_field("context", context),
        float(at),
    )
    return Job(
        id=job_id,
        guild_id=guild_id,
        user_id=user_id,
        channel_id=channel_id,
        age_restricted=age_restricted,
        status=JobStatus.QUEUED,
        request=request,
        hold=hold,
        context=dict(context),
        created_at=at,
        updated_at=at,
    )


async def get(conn: asyncpg.Connection, job_id: int) -> Job | None:
    """One job by id."""
    row = await conn.fetchrow(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return job_from_row(tuple(row)) if row else None


async def transition(
    conn: asyncpg.Connection, job_id: int, to: JobStatus, *, at: float, **fields: Any
) -> bool:
    """Compare-and-set: move a job to ``to`` if its current status allows it (an UPDATE's
    WHERE is re-checked on the newest row, so two writers never both move it)."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not job fields: {sorted(unknown)}")
    sources = sorted(s.value for s in sources_of(to))
    names = list(fields)
    sets = ", ".join(
        ["status = $1", "updated_at = $2", *(f"{name} = ${i + 5}" for i, name in enumerate(names))]
    )
    values = [_typed(n, encode_field(n, fields[n])) for n in names]
    status = await conn.execute(
        f"UPDATE jobs SET {sets} WHERE id = $3 AND status = ANY($4::text[])",
        to.value,
        float(at),
        job_id,
        sources,
        *values,
    )
    return bool(status == "UPDATE 1")


def _typed(name: str, value: Any) -> Any:
    """Times are DOUBLE PRECISION: an int given for one is sent as a float."""
    if name in ("not_before", "started_at", "finished_at") and isinstance(value, int):
        return float(value)
    return value


async def set_context(conn: asyncpg.Connection, job_id: int, context: dict[str, Any]) -> None:
    """Replace the Discord layer's data for a job (message ids and the like)."""
    await conn.execute(
        "UPDATE jobs SET context = $1 WHERE id = $2", encode_field("context", context), job_id
    )


async def unfinished(conn: asyncpg.Connection) -> list[Job]:
    """Every job that has not ended, oldest first: what a restart must pick up."""
    rows = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = ANY($1::text[]) ORDER BY id",
        list(UNFINISHED),
    )
    return [job_from_row(tuple(row)) for row in rows]


async def of_user(
    conn: asyncpg.Connection,
    guild_id: int,
    user_id: int,
    statuses: Iterable[JobStatus] | None = None,
    *,
    limit: int = 50,
) -> list[Job]:
    """A member's jobs in one guild, newest first, optionally only some statuses."""
    wanted = [s.value for s in (statuses if statuses is not None else JobStatus)]
    rows = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE guild_id = $1 AND user_id = $2"
        " AND status = ANY($3::text[]) ORDER BY id DESC LIMIT $4",
        guild_id,
        user_id,
        wanted,
        limit,
    )
    return [job_from_row(tuple(row)) for row in rows]


async def save_images(
    conn: asyncpg.Connection, job_id: int, images: Sequence[GeneratedImage]
) -> None:
    """Keep fetched images until they are delivered, so a restart can still deliver them."""
    await conn.execute("DELETE FROM job_images WHERE job_id = $1", job_id)
    await conn.executemany(
        "INSERT INTO job_images"
        " (job_id, idx, data, content_type, width, height, nsfw, nsfw_source, seed)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (
                job_id,
                i,
                im.data,
                im.content_type,
                im.width,
                im.height,
                im.nsfw,
                im.nsfw_source,
                im.seed,
            )
            for i, im in enumerate(images)
        ],
    )


async def load_images(conn: asyncpg.Connection, job_id: int) -> list[GeneratedImage]:
    """The fetched images of a job, in order."""
    rows = await conn.fetch(
        "SELECT data, content_type, width, height, nsfw, nsfw_source, seed FROM job_images"
        " WHERE job_id = $1 ORDER BY idx",
        job_id,
    )
    return [
        GeneratedImage(
            data=d, content_type=c, width=w, height=h, nsfw=n, nsfw_source=source, seed=s
        )
        for d, c, w, h, n, source, s in rows
    ]


async def delete_images(conn: asyncpg.Connection, job_id: int) -> None:
    """Drop a job's image bytes once they are delivered."""
    await conn.execute("DELETE FROM job_images WHERE job_id = $1", job_id)


async def many(conn: asyncpg.Connection, job_ids: Sequence[int]) -> list[Job]:
    """Several jobs by id, in id order."""
    if not job_ids:
        return []
    rows = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id", list(job_ids)
    )
    return [job_from_row(tuple(row)) for row in rows]


async def counts_by_status(conn: asyncpg.Connection) -> dict[JobStatus, int]:
    """How many jobs are in each status (for operators and tests)."""
    rows = await conn.fetch("SELECT status, COUNT(*) FROM jobs GROUP BY status")
    return {JobStatus(s): n for s, n in rows}
