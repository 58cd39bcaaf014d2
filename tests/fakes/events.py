"""A stand-in for the Discord layer that records what the pipeline told it."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.errors import DeliveryFailed
from bot.jobs import Job
from bot.models import GeneratedImage, JobStatus
from bot.pipeline.estimates import Estimate
from bot.safety import DeliveryPlan


@dataclass
class Posted:
    """What one delivery put in the channel."""

    images: list[GeneratedImage]
    plan: DeliveryPlan


@dataclass
class RecordingEvents:
    """Records every event; delivery is idempotent by job id, as the real layer's must be."""

    posted: dict[int, Posted] = field(default_factory=dict)
    deliver_calls: Counter[int] = field(default_factory=Counter)
    started_jobs: list[int] = field(default_factory=list)
    finished_jobs: dict[int, Job] = field(default_factory=dict)
    estimates: defaultdict[int, list[Estimate]] = field(default_factory=lambda: defaultdict(list))
    fail_deliveries: list[DeliveryFailed] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    told: asyncio.Event = field(default_factory=asyncio.Event)

    async def queued(self, job: Job, estimate: Estimate) -> None:
        self.estimates[job.id].append(estimate)
        self.told.set()

    async def started(self, job: Job) -> None:
        self.started_jobs.append(job.id)

    async def deliver(self, job: Job, images: Sequence[GeneratedImage], plan: DeliveryPlan) -> None:
        self.deliver_calls[job.id] += 1
        if self.fail_deliveries:
            raise self.fail_deliveries.pop(0)
        self.posted.setdefault(job.id, Posted(list(images), plan))

    async def finished(self, job: Job) -> None:
        self.finished_jobs[job.id] = job
        self.ended.set()

    async def until_finished(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` jobs have ended."""

        async def wait() -> None:
            while len(self.finished_jobs) < count:
                self.ended.clear()
                await self.ended.wait()

        await asyncio.wait_for(wait(), timeout)

    async def until_told(self, job_id: int, timeout: float = 10.0) -> Estimate:
        """Wait for the first position update of a job."""

        async def wait() -> Estimate:
            while not self.estimates[job_id]:
                self.told.clear()
                await self.told.wait()
            return self.estimates[job_id][-1]

        return await asyncio.wait_for(wait(), timeout)

    def status(self, job_id: int) -> JobStatus:
        """How a finished job ended."""
        return self.finished_jobs[job_id].status
