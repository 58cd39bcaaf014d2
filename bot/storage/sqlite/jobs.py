"""Jobs and their fetched images in SQLite; functions run inside ``Database.write``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from bot.jobs import Job, sources_of
from bot.models import GeneratedImage, GenerationRequest, JobStatus
from bot.storage.rows import JOB_COLUMNS, UPDATABLE, encode_field, job_from_row


def insert(
    conn: sqlite3.Connection,
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
    """Store a new queued job and return it with its id."""
    cursor = conn.execute(
        "INSERT INTO jobs (guild_id, user_id, channel_id, age_restricted, status, request, hold, "
        "context, created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
        (
            guild_id,
            user_id,
            channel_id,
            int(age_restricted),
            request.model_dump_json(),
            hold,
            encode_field("context", context),
            at,
            at,
        ),
    )
    assert cursor.lastrowid is not None
    return Job(
        id=cursor.lastrowid,
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


def get(conn: sqlite3.Connection, job_id: int) -> Job | None:
    """One job by id."""
    row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return job_from_row(row) if row else None


def transition(
    conn: sqlite3.Connection, job_id: int, to: JobStatus, *, at: float, **fields: Any
) -> bool:
    """Move a job to ``to`` if its current status allows it. False when it does not (it
    already moved on, e.g. cancelled meanwhile), in which case nothing changes."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not job fields: {sorted(unknown)}")
    sources = sorted(s.value for s in sources_of(to))
    sets = ", ".join(["status = ?", "updated_at = ?", *(f"{name} = ?" for name in fields)])
    params = [to.value, at, *(encode_field(n, v) for n, v in fields.items()), job_id, *sources]
    cursor = conn.execute(
        f"UPDATE jobs SET {sets} WHERE id = ? AND status IN ({', '.join('?' * len(sources))})",
        params,
    )
    return cursor.rowcount == 1


def start(conn: sqlite3.Connection, job_id: int, *, at: float) -> Job | None:
    """Take a queued job to SUBMITTING and return it; None if it is no longer queued."""
    if not transition(conn, job_id, JobStatus.SUBMITTING, at=at, started_at=at):
        return None
    return get(conn, job_id)


def set_context(conn: sqlite3.Connection, job_id: int, context: dict[str, Any]) -> None:
    """Replace the Discord layer's data for a job (message ids and the like)."""
    conn.execute(
        "UPDATE jobs SET context = ? WHERE id = ?", (encode_field("context", context), job_id)
    )


def unfinished(conn: sqlite3.Connection) -> list[Job]:
    """Every job that has not ended, oldest first: what a restart must pick up."""
    rows = conn.execute(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN "
        "('queued', 'submitting', 'submitted', 'fetched') ORDER BY id"
    ).fetchall()
    return [job_from_row(row) for row in rows]


def of_user(
    conn: sqlite3.Connection,
    guild_id: int,
    user_id: int,
    statuses: Iterable[JobStatus] | None = None,
    *,
    limit: int = 50,
) -> list[Job]:
    """A member's jobs in one guild, newest first, optionally only some statuses."""
    wanted = [s.value for s in statuses] if statuses is not None else [s.value for s in JobStatus]
    rows = conn.execute(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE guild_id = ? AND user_id = ? AND status IN "
        f"({', '.join('?' * len(wanted))}) ORDER BY id DESC LIMIT ?",
        (guild_id, user_id, *wanted, limit),
    ).fetchall()
    return [job_from_row(row) for row in rows]


def save_images(conn: sqlite3.Connection, job_id: int, images: Sequence[GeneratedImage]) -> None:
    """Keep fetched images until they are delivered, so a restart can still deliver them."""
    conn.execute("DELETE FROM job_images WHERE job_id = ?", (job_id,))
    conn.executemany(
        "INSERT INTO job_images (job_id, idx, data, content_type, width, height, nsfw,"
        " nsfw_source, seed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                job_id,
                i,
                im.data,
                im.content_type,
                im.width,
                im.height,
                None if im.nsfw is None else int(im.nsfw),
                im.nsfw_source,
                im.seed,
            )
            for i, im in enumerate(images)
        ],
    )


def load_images(conn: sqlite3.Connection, job_id: int) -> list[GeneratedImage]:
    """The fetched images of a job, in order."""
    rows = conn.execute(
        "SELECT data, content_type, width, height, nsfw, nsfw_source, seed FROM job_images "
        "WHERE job_id = ? ORDER BY idx",
        (job_id,),
    ).fetchall()
    return [
        GeneratedImage(
            data=d,
            content_type=c,
            width=w,
            height=h,
            nsfw=None if n is None else bool(n),
            nsfw_source=source,
            seed=s,
        )
        for d, c, w, h, n, source, s in rows
    ]


def delete_images(conn: sqlite3.Connection, job_id: int) -> None:
    """Drop a job's image bytes once they are delivered."""
    conn.execute("DELETE FROM job_images WHERE job_id = ?", (job_id,))


def many(conn: sqlite3.Connection, job_ids: Sequence[int]) -> list[Job]:
    """Several jobs by id, in id order."""
    if not job_ids:
        return []
    rows = conn.execute(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({', '.join('?' * len(job_ids))}) ORDER BY id",
        tuple(job_ids),
    ).fetchall()
    return [job_from_row(row) for row in rows]


def counts_by_status(conn: sqlite3.Connection) -> dict[JobStatus, int]:
    """How many jobs are in each status (for operators and tests)."""
    return {
        JobStatus(s): n
        for s, n in conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
    }
