"""Crash tests: a real bot process is killed with SIGKILL mid-flight and started again.

Whatever state the jobs were in, every job ends delivered or refunded exactly once,
nothing is submitted to the provider twice, and the ledger reconciles.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.storage.sqlite import ledger
from tests.fakes.providers import trust_for
from tests.fakes.providers.bfl import FakeBfl

JOBS = 30
ROOT = Path(__file__).parents[3]
UNFINISHED = ("queued", "submitting", "submitted", "fetched")


def slow_answer_bfl() -> FakeBfl:
    """BFL whose tasks take varied times and whose submit answers come late: a crash in
    between leaves a job the provider has and the bot cannot know about."""
    rng = random.Random(7)
    fake = FakeBfl(latency=lambda: rng.uniform(0.3, 1.2))
    fake.submit_delay = lambda: rng.uniform(0.05, 0.4)
    return fake


def statuses(db: Path) -> Counter[str]:
    if not db.exists():
        return Counter()
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return Counter(dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")))
    except sqlite3.OperationalError:
        return Counter()


async def start_worker(tmp: Path, fake: FakeBfl, *, submit: int = 0) -> asyncio.subprocess.Process:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **trust_for({"bfl": fake})}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.pipeline_worker",
        "--db",
        str(tmp / "bot.db"),
        "--posts",
        str(tmp / "posts.db"),
        "--bfl",
        fake.url("api"),
        "--submit",
        str(submit),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def kill_when(
    process: asyncio.subprocess.Process, db: Path, wanted: set[str], deadline: float = 60.0
) -> Counter[str]:
    """SIGKILL the worker at the first moment every status in ``wanted`` is present."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        seen = statuses(db)
        if wanted <= {s for s, n in seen.items() if n}:
            process.send_signal(signal.SIGKILL)
            await process.wait()
            return seen
        if process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    if process.returncode is None:
        process.kill()
        await process.wait()
    pytest.fail(f"never saw {wanted} together; last {statuses(db)}")


async def test_sigkill_in_every_state_still_delivers_or_refunds_each_job_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    async with slow_answer_bfl() as fake:
        first = await start_worker(tmp_path, fake, submit=JOBS)
        at_crash = await kill_when(first, db, set(UNFINISHED))
        assert first.returncode == -signal.SIGKILL

        second = await start_worker(tmp_path, fake)
        await kill_when(second, db, {"submitted"})

        last = await start_worker(tmp_path, fake)
        _, err = await asyncio.wait_for(last.communicate(), 120)
        assert last.returncode == 0, err.decode()[-3000:]
        submitted_prompts = Counter(
            r.body["prompt"]
            for r in fake.requests
            if r.method == "POST" and isinstance(r.body, dict)
        )

    assert all(at_crash[s] for s in UNFINISHED), at_crash
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, status, charged, error FROM jobs ORDER BY id").fetchall()
        kinds = Counter(
            (job_id, kind)
            for job_id, kind in conn.execute(
                "SELECT DISTINCT job_id, movement || kind FROM ledger WHERE job_id IS NOT NULL"
            )
        )
        by_job = Counter()
        for (job_id, movement_kind), _ in kinds.items():
            by_job[(job_id, movement_kind.lstrip("0123456789"))] += 1
        problems = ledger.reconcile(conn)
    with sqlite3.connect(tmp_path / "posts.db") as conn:
        posts = dict(conn.execute("SELECT job_id, images FROM posts").fetchall())

    assert len(rows) == JOBS
    assert not [r for r in rows if r[1] in UNFINISHED], "every job reached an end"
    for job_id, status, charged, error in rows:
        assert by_job[(job_id, "hold")] == 1
        if status == "done":
            assert posts.get(job_id) == 1, f"job {job_id} posted exactly once"
            assert (by_job[(job_id, "settle")], by_job[(job_id, "release")]) == (1, 0)
            assert charged == 6
        else:
            assert job_id not in posts, f"job {job_id} ended {status} ({error}) but was posted"
            assert (by_job[(job_id, "settle")], by_job[(job_id, "release")]) == (0, 1)
    assert problems == []
    assert max(submitted_prompts.values()) == 1, "no prompt was ever submitted twice"
    assert sum(1 for r in rows if r[1] == "failed") >= at_crash["submitting"], (
        "jobs caught mid-submit are refunded, not resubmitted"
    )
    assert sum(1 for r in rows if r[1] == "done") >= JOBS - at_crash["submitting"] - 2
