"""Takes one job from wherever it stands to an end: submit, wait, fetch, deliver, settle.

Every step is one transaction that moves the job's status (compare-and-set), so a
crash between steps leaves a record a restart can finish, and the money moves in
the same transaction as the end state: settled with DONE, released with FAILED,
MODERATED or CANCELLED, never twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import (
    ContentModerated,
    DeliveryFailed,
    ImagineError,
    NoProviderAvailable,
)
from bot.models import GeneratedImage, GenerationResult, GuildSettings, JobStatus
from bot.pipeline.events import PipelineEvents, notify
from bot.pipeline.jobs import Job, ResultSummary
from bot.providers.base import describe
from bot.providers.handles import JobHandle
from bot.providers.router import Router
from bot.safety import DeliveryPlan, plan_delivery
from bot.storage import jobs, ledger
from bot.storage.db import Database

log = logging.getLogger(__name__)

S = JobStatus
DELIVERY_ATTEMPTS = 5
UNEXPECTED = "Something went wrong on our side; the job was stopped and nothing was charged."
RESTARTED_WHILE_SENDING = (
    "The bot restarted while sending this job to the image provider and cannot tell whether "
    "it arrived, so it was stopped. Nothing was charged; please try again."
)


class JobGone(Exception):
    """The job was ended elsewhere (cancelled) while this runner was working on it."""


@dataclass
class Requeue:
    """Every provider was busy: the job goes back to the queue until ``not_before``."""

    job: Job
    not_before: float


class JobRunner:
    """Runs jobs; owns no queue, only the steps of a job's life."""

    def __init__(
        self,
        db: Database,
        router: Router,
        events: PipelineEvents,
        *,
        settings_of: Callable[[int], Awaitable[GuildSettings]],
        price_of: Callable[[GuildSettings, str], int],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.router = router
        self.events = events
        self.settings_of = settings_of
        self.price_of = price_of
        self.clock = clock
        self.sleep = sleep

    async def start(self, job_id: int) -> Requeue | None:
        """Take a queued job out of the queue and run it."""
        at = self.clock()
        job = await self.db.write(lambda c: jobs.start(c, job_id, at=at))
        if job is None:
            return None  # cancelled between the scheduler's choice and now
        await notify(self.events.started, job)
        return await self.run(job)

    async def run(self, job: Job) -> Requeue | None:
        """Carry a started job to an end state, or return Requeue when every provider is busy."""
        try:
            if job.status in (S.SUBMITTING, S.SUBMITTED):
                outcome = await self._generate(job)
                if not isinstance(outcome, tuple):
                    return outcome
                await self._store_while_posting(*outcome)
            else:
                images = await self.db.read(lambda c: jobs.load_images(c, job.id))
                await self._settle(job, await self._post(job, images))
        except JobGone:
            log.info("job %d was ended elsewhere while running", job.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %d failed unexpectedly", job.id)
            await self.end(job, S.FAILED, UNEXPECTED)
        return None

    async def abandon_unknown_submit(self, job: Job) -> None:
        """A restart found the job mid-submit: whether the provider has it is unknowable."""
        await self.end(job, S.FAILED, RESTARTED_WHILE_SENDING)

    async def end(self, job: Job, status: JobStatus, error: str | None) -> Job | None:
        """End the job and give its hold back, in one transaction; None if it had ended already."""
        at = self.clock()

        fields: dict[str, Any] = {"error": error, "finished_at": at, "charged": 0}

        def change(conn: Any) -> bool:
            ended = jobs.transition(conn, job.id, status, at=at, **fields)
            if ended:
                ledger.release(conn, job_id=job.id, at=at)
                jobs.delete_images(conn, job.id)
            return ended

        if not await self.db.write(change):
            return None
        ended = job.moved(status, at, **fields)
        await notify(self.events.finished, ended)
        return ended

    async def _generate(self, job: Job) -> tuple[Job, GenerationResult] | Requeue | None:
        current = job

        async def submitted(handle: JobHandle) -> None:
            nonlocal current
            settings = await self.settings_of(job.guild_id)
            moved = await self._move(
                current,
                S.SUBMITTED,
                provider=handle.provider,
                unit_price=self.price_of(settings, handle.provider),
                handle=handle,
            )
            if moved is None:
                await self.router.cancel(handle)
                raise JobGone
            current = moved

        try:
            result = await self.router.generate(
                job.request,
                on_submitted=submitted,
                handle=job.handle if job.status is S.SUBMITTED else None,
            )
        except NoProviderAvailable as exc:
            if exc.retry_after is None:
                await self.end(current, S.FAILED, exc.user_message)
                return None
            return await self._requeue(current, exc.retry_after)
        except ContentModerated as exc:
            log.info("job %d moderated: %s", job.id, describe(exc))
            await self.end(current, S.MODERATED, exc.user_message)
            return None
        except ImagineError as exc:
            log.warning("job %d failed: %s", job.id, describe(exc))
            await self.end(current, S.FAILED, exc.user_message)
            return None
        return current, result

    async def _requeue(self, job: Job, retry_after: float) -> Requeue | None:
        not_before = self.clock() + retry_after
        moved = await self._move(job, S.QUEUED, not_before=not_before, handle=None, provider=None)
        return Requeue(moved, not_before) if moved is not None else None

    async def _store_while_posting(self, job: Job, result: GenerationResult) -> None:
        """Keep the images (so a restart can still deliver them) while already posting them.

        Posting is idempotent by job and the provider handle is stored, so a crash between
        the two only means the next start posts again; waiting for the write first would
        add a transaction's latency to every image.
        """
        summary = ResultSummary(
            provider=result.provider,
            provider_job_id=result.job_id,
            seed=result.seed,
            images=len(result.images),
            nsfw=tuple(im.nsfw for im in result.images),
            timings=result.timings,
            notes=result.notes,
        )
        at = self.clock()
        fetched = job.moved(S.FETCHED, at, result=summary)

        def change(conn: Any) -> bool:
            moved = jobs.transition(conn, job.id, S.FETCHED, at=at, result=summary)
            if moved:
                jobs.save_images(conn, job.id, result.images)
            return moved

        storing = asyncio.ensure_future(self.db.write(change))
        try:
            posted = await self._post(fetched, result.images)
        finally:
            stored = await storing
        if not stored:
            raise JobGone
        await self._settle(fetched, posted)

    async def _post(
        self, job: Job, images: Sequence[GeneratedImage]
    ) -> DeliveryPlan | DeliveryFailed:
        """Post the images as the guild's NSFW policy says; the plan, or why it failed."""
        settings = await self.settings_of(job.guild_id)
        plan = plan_delivery(
            [im.nsfw for im in images],
            policy=settings.nsfw_policy,
            age_restricted=job.age_restricted,
            refund_blocked=settings.refund_blocked,
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.events.deliver(job, images, plan)
                return plan
            except DeliveryFailed as exc:
                log.warning(
                    "job %d delivery failed (attempt %d): %s", job.id, attempt, describe(exc)
                )
                if exc.permanent or attempt == DELIVERY_ATTEMPTS:
                    return exc
                await self.sleep(min(30.0, 2.0**attempt))

    async def _settle(self, job: Job, posted: DeliveryPlan | DeliveryFailed) -> None:
        """DONE and charged for what was delivered, or FAILED and refunded; one transaction."""
        if isinstance(posted, DeliveryFailed):
            await self.end(job, S.FAILED, posted.user_message)
            return
        charge = posted.charged_images * (job.unit_price or 0)
        provider = job.provider or (job.result.provider if job.result else None)
        at = self.clock()

        def change(conn: Any) -> bool:
            done = jobs.transition(conn, job.id, S.DONE, at=at, charged=charge, finished_at=at)
            if done:
                ledger.settle(
                    conn,
                    job_id=job.id,
                    charge=charge,
                    provider=provider,
                    images=posted.charged_images,
                    at=at,
                )
                jobs.delete_images(conn, job.id)
            return done

        if await self.db.write(change):
            await notify(
                self.events.finished, job.moved(S.DONE, at, charged=charge, finished_at=at)
            )

    async def _move(self, job: Job, to: JobStatus, **fields: Any) -> Job | None:
        at = self.clock()
        if not await self.db.write(lambda c: jobs.transition(c, job.id, to, at=at, **fields)):
            return None
        return job.moved(to, at, **fields)
