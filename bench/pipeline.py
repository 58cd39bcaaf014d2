"""How much the pipeline itself costs: queue, scheduler and ledger against an instant provider.

10,000 jobs from 100 guilds, one guild sending half of them, in a shuffled order. Phase 1
admits them all through 200 concurrent submitters (each admission stores the job and holds
its credits in one transaction). Phase 2 is a fresh pipeline on the same database, as after
a restart with a backlog: it resumes the 10,000 queued jobs and runs each through the fair
scheduler, the runner (every state change a transaction) and settlement, against a
provider that answers at once. Rate limits are set so they never bind: this measures the
machinery. Throughput counts both phases.

    .venv/bin/python -m bench.pipeline [--jobs 10000] [--guilds 100]

Scheduling delay: how long freed capacity waits before the scheduler hands it a job (a
job ends, its slot frees; the next job the scheduler picks takes the oldest freed slot).
Start latency: the same, up to the provider call, so it also includes the durable
SUBMITTING write that must land before any provider is called. Fairness: jobs started per
guild among the 99 small guilds while all of them still had jobs queued, smallest count
over largest.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from bot.handles import TaskRef
from bot.jobs import Job
from bot.models import GeneratedImage, GenerationRequest, JobStatus
from bot.pipeline.estimates import Estimate
from bot.pipeline.service import Pipeline, Submission
from bot.providers.capabilities import Plan
from bot.providers.http import HttpClient
from bot.providers.router import Router
from bot.safety import DeliveryPlan
from bot.settings import Settings
from bot.storage.engines import open_store
from tests.fakes.providers.scripted import ScriptedProvider

SUBMITTERS = 200


class Probe:
    """Timestamps from both ends: slots freeing, the scheduler's picks, provider calls."""

    def __init__(self, slots: int) -> None:
        self.job_of: dict[int, int] = {}
        self.freed: deque[float] = deque()
        self.picks: list[tuple[float, int]] = []
        self.pick_delays: list[float] = []
        self.free_at: dict[int, float] = {}
        self.start_delays: list[float] = []
        self.slots = slots

    def begin(self) -> None:
        """Phase 2 starts: every slot is free now."""
        self.freed = deque([time.perf_counter()] * self.slots)

    def picked(self, job_id: int, guild_id: int) -> None:
        """The scheduler chose a job: it takes the oldest freed slot."""
        now = time.perf_counter()
        freed = self.freed.popleft() if self.freed else now
        self.pick_delays.append(now - freed)
        self.free_at[job_id] = freed
        self.picks.append((now, guild_id))

    def called(self, number: int) -> None:
        """The job with this prompt number reached the provider."""
        job_id = self.job_of[number]
        self.start_delays.append(time.perf_counter() - self.free_at.pop(job_id))

    def finished(self) -> None:
        """A job ended: its slot is free from now."""
        self.freed.append(time.perf_counter())


class InstantProvider(ScriptedProvider):
    """Answers every submit and wait at once, telling the probe."""

    def __init__(self, http: HttpClient, probe: Probe) -> None:
        super().__init__("fal", http)
        self.probe = probe

    async def submit_task(self, request: GenerationRequest, plan: Plan, index: int) -> TaskRef:
        self.probe.called(int(request.prompt.rsplit(" ", 1)[1]))
        return await super().submit_task(request, plan, index)


class CountingEvents:
    """Delivery that posts nowhere; finishes free a slot in the probe."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def queued(self, job: Job, estimate: Estimate) -> None:
        """Nothing to show."""

    async def started(self, job: Job) -> None:
        """Nothing to show."""

    async def deliver(self, job: Job, images: Sequence[GeneratedImage], plan: DeliveryPlan) -> None:
        """Nowhere to post."""

    async def finished(self, job: Job) -> None:
        """Free the slot."""
        self.probe.finished()


def workload(jobs: int, guilds: int, seed: int = 1) -> list[tuple[int, int]]:
    """(guild, user) per job: guild 0 sends half, the rest share the other half evenly."""
    rng = random.Random(seed)
    flood = [(0, 1000 + i % 500) for i in range(jobs // 2)]
    rest = [
        (1 + i % (guilds - 1), 2000 + i % ((guilds - 1) * 10)) for i in range(jobs - len(flood))
    ]
    order = flood + rest
    rng.shuffle(order)
    return order


async def run(jobs: int, guilds: int, folder: Path) -> dict[str, float]:
    """Admit the burst, resume it in a fresh pipeline, and read the probe and the ledger."""
    global_cap = 64
    operator = Settings(  # type: ignore[call-arg]
        _env_file=None,
        fal_key=SecretStr("x"),
        max_running_jobs=global_cap,
        max_starts_per_second=10_000,  # the scheduler's own speed is measured, not a pace
        daily_allowance=1_000_000,
        guild_jobs_per_minute=600_000,
        user_max_queued=10_000,
        user_max_running=10,
        guild_max_running=64,
        guild_burst=100_000,
        guild_max_queued=100_000,
    )
    probe = Probe(global_cap)
    db = await open_store(folder / "bench.sqlite3")
    async with aiohttp.ClientSession() as session:
        provider = InstantProvider(HttpClient(session), probe)
        admitting = Pipeline(db, Router([provider]), operator)
        order = workload(jobs, guilds)
        pending = iter(enumerate(order))
        started = time.perf_counter()

        async def submitter() -> None:
            for number, (guild, user) in pending:
                admitted = await admitting.submit(
                    Submission(
                        guild_id=guild,
                        user_id=user,
                        channel_id=1,
                        request=GenerationRequest(prompt=f"bench job {number}"),
                    )
                )
                probe.job_of[number] = admitted.job.id

        await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
        admitted_at = time.perf_counter()

        pipeline = Pipeline(
            db, Router([provider]), operator, CountingEvents(probe), progress_interval=2.0
        )
        pick = pipeline.scheduler.next

        def traced_next(now, can_start=None):  # type: ignore[no-untyped-def]
            ticket = pick(now, can_start)
            if ticket is not None:
                probe.picked(ticket.job_id, ticket.guild_id)
            return ticket

        pipeline.scheduler.next = traced_next  # type: ignore[method-assign]
        probe.begin()
        await pipeline.start()
        await pipeline.drain()
        finished = time.perf_counter()
        await pipeline.stop()
    problems = await db.run(lambda tx: tx.ledger.reconcile())
    counts = await db.run(lambda tx: tx.jobs.counts_by_status())
    settled = counts.get(JobStatus.DONE, 0)
    await db.close()

    small = {g for _, g in probe.picks if g != 0}
    window_end = min(max(t for t, g in probe.picks if g == guild) for guild in small)
    in_window = Counter(g for t, g in probe.picks if g != 0 and t < window_end)
    picks, starts = sorted(probe.pick_delays), sorted(probe.start_delays)
    return {
        "jobs": jobs,
        "done": settled,
        "seconds": finished - started,
        "admit_seconds": admitted_at - started,
        "run_seconds": finished - admitted_at,
        "jobs_per_s": settled / (finished - started),
        "pick_p50_ms": statistics.median(picks) * 1000,
        "pick_p99_ms": picks[int(0.99 * (len(picks) - 1))] * 1000,
        "start_p50_ms": statistics.median(starts) * 1000,
        "start_p99_ms": starts[int(0.99 * (len(starts) - 1))] * 1000,
        "fairness": min(in_window.values()) / max(in_window.values()),
        "window_jobs": sum(in_window.values()),
        "reconcile_problems": len(problems),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    """Run once and print the figures with the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--guilds", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        r = asyncio.run(run(args.jobs, args.guilds, Path(folder)))
    print(f"{r['jobs']:.0f} jobs from {args.guilds} guilds (guild 0 sent half), instant provider")
    print(
        f"  all done in        {r['seconds']:.2f} s: admitted in {r['admit_seconds']:.2f} s, "
        f"run in {r['run_seconds']:.2f} s ({r['done']:.0f} delivered and settled)"
    )
    print(f"  throughput         {r['jobs_per_s']:.0f} jobs/s            (target >= 1000)")
    print(
        f"  scheduling delay   p50 {r['pick_p50_ms']:.2f} ms, p99 {r['pick_p99_ms']:.2f} ms "
        f"(target p99 < 5 ms)"
    )
    print(
        f"  start latency      p50 {r['start_p50_ms']:.2f} ms, p99 {r['start_p99_ms']:.2f} ms "
        f"(incl. the durable SUBMITTING write)"
    )
    print(
        f"  fairness           {r['fairness']:.3f} over {r['window_jobs']:.0f} starts of the "
        f"99 other guilds (target >= 0.9)"
    )
    print(f"  ledger             {'reconciles' if not r['reconcile_problems'] else 'MISMATCH'}")
    print(f"  peak RSS           {r['peak_rss_mb']:.0f} MB              (target < 150 MB)")


if __name__ == "__main__":
    main()
