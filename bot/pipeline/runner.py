"""Takes one job from wherever it stands to an end: submit, wait, fetch, deliver, settle.

Every step is one transaction that moves the job's status (compare-and-set), so a
crash between steps leaves a record a restart can finish, and the money moves in
the same transaction as the end state: settled with DONE, released with FAILED,
MODERATED or CANCELLED, never twice. Each submit is preceded by a durable intent
(see ``bot.pipeline.journal``); a job a restart finds mid-submit is settled at the
provider it was sent to, and never sent anywhere else while that is in doubt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.errors import (
    RESTARTED_WHILE_SENDING,
    UNEXPECTED,
    ContentModerated,
    DeliveryFailed,
    ImagineError,
    NoProviderAvailable,
    describe,
)
from bot.handles import JobHandle
from bot.jobs import Job, ResultSummary
from bot.models import GeneratedImage, GenerationResult, GuildSettings, JobStatus
from bot.nsfw import Verdict
from bot.pipeline.events import DELIVERY_RETRY, PipelineEvents, notify
from bot.pipeline.journal import JobGone, Journal, job_end
from bot.providers.capabilities import Capabilities
from bot.providers.router import Router
from bot.retry import backoff_delay
from bot.safety import DeliveryPlan, plan_delivery, verdict_line
from bot.storage.interface import Store, Transaction

log = logging.getLogger(__name__)

S = JobStatus


# The bot's own NSFW verdict on an image file (``bot.nsfw.Classifier.classify``).
Judge = Callable[[bytes], Awaitable[Verdict]]


@dataclass
class Requeue:
    """Every provider was busy: the job goes back to the queue until ``not_before``."""

    job: Job
    not_before: float


class JobRunner:
    """Runs jobs; owns no queue, only the steps of a job's life."""

    def __init__(
        self,
        store: Store,
        router: Router,
        events: PipelineEvents,
        *,
        settings_of: Callable[[int], Awaitable[GuildSettings]],
        price_of: Callable[[GuildSettings, str], int],
        micros_per_image: Callable[[str], int] = lambda provider: 0,
        judge: Judge | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.router = router
        self.events = events
        self.settings_of = settings_of
        self.price_of = price_of
        self.micros_per_image = micros_per_image
        self.judge = judge
        self.clock = clock
        self.sleep = sleep

    def capabilities(self, provider: str) -> Capabilities | None:
        """What a configured provider can do and bills (None once it is no longer configured)."""
        found = self.router.providers.get(provider)
        return found.capabilities if found is not None else None

    async def run(self, job: Job) -> Requeue | None:
        """Carry a job to an end state, or return Requeue when every provider is busy.

        A queued job is submitted; a submitted one resumed; one caught mid-submit by a
        restart is first settled at the provider it was sent to; fetched images are posted.
        """
        journal = Journal(self, job)
        try:
            if job.status is S.FETCHED:
                images = await self.store.run(lambda tx: tx.jobs.load_images(job.id))
                await self._settle(job, await self._post(job, images))
                return None
            handle = job.handle if job.status is S.SUBMITTED else None
            if job.status is S.SUBMITTING:
                recovered = await self._recover(journal)
                if not isinstance(recovered, JobHandle):
                    return recovered
                handle = recovered
            outcome = await self._generate(journal, handle)
            if not isinstance(outcome, tuple):
                return outcome
            done, result = outcome
            await self._store_while_posting(done, await self._judged(result))
        except JobGone:
            log.info("job %d was ended elsewhere while running", job.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %d failed unexpectedly", job.id)
            await self.end(journal.job, S.FAILED, UNEXPECTED, journal=journal)
        return None

    async def end(
        self, job: Job, status: JobStatus, error: str | None, *, journal: Journal | None = None
    ) -> Job | None:
        """End the job and give its hold back, in one transaction; None if it had ended already.

        Its provider tasks still open end with it, so the task log says why their images
        never came (and the journal's waiting notes land in the same transaction).
        """
        at = self.clock()
        fields: dict[str, Any] = {"error": error, "finished_at": at, "charged": 0}
        pending = journal.take() if journal is not None else []
        task_state, billed = job_end(status, job.status, self.capabilities(job.provider or ""))

        async def change(tx: Transaction) -> bool:
            for note in pending:
                await note(tx)
            ended = await tx.jobs.transition(job.id, status, at=at, **fields)
            if ended:
                await tx.ledger.release(job_id=job.id, at=at)
                await tx.jobs.delete_images(job.id)
                await tx.tasks.end_job(job.id, state=task_state, billed=billed, reason=error, at=at)
            return ended

        if not await self.store.run(change):
            return None
        ended = job.moved(status, at, **fields)
        await notify(self.events.finished, ended)
        return ended

    async def _recover(self, journal: Journal) -> JobHandle | Requeue | None:
        """A restart found the job mid-submit: settle it at that provider, never elsewhere.

        Found: the job goes on from its handle. Proven absent: it goes back to the queue.
        Unknown: it ends refunded, and the task log keeps the doubt.
        """
        job = journal.job
        intent = await self.store.run(lambda tx: tx.tasks.open_intent(job.id))
        if intent is None:
            await self.end(job, S.FAILED, RESTARTED_WHILE_SENDING, journal=journal)
            return None
        try:
            handle = await self.router.recover(job.request, intent)
        except ImagineError as exc:
            journal.ended(intent.token, exc)
            if getattr(exc, "accepted", None) is False:
                log.info(
                    "job %d was not at %s after a restart; queued again", job.id, intent.provider
                )
                return await self._requeue(journal, 0.0)
            log.warning("job %d: %s", job.id, describe(exc))
            await self.end(job, S.FAILED, RESTARTED_WHILE_SENDING, journal=journal)
            return None
        log.info("job %d found at %s after a restart", job.id, intent.provider)
        await journal.submitted(handle)
        return handle

    async def _generate(
        self, journal: Journal, handle: JobHandle | None
    ) -> tuple[Job, GenerationResult] | Requeue | None:
        try:
            result = await self.router.generate(journal.job.request, journal=journal, handle=handle)
        except NoProviderAvailable as exc:
            if exc.worth_waiting:
                return await self._requeue(journal, exc.retry_after or 0.0)
            await self.end(journal.job, S.FAILED, exc.user_message, journal=journal)
            return None
        except ContentModerated as exc:
            log.info("job %d moderated: %s", journal.job.id, describe(exc))
            await self.end(journal.job, S.MODERATED, exc.user_message, journal=journal)
            return None
        except ImagineError as exc:
            log.warning("job %d failed: %s", journal.job.id, describe(exc))
            await self.end(journal.job, S.FAILED, exc.user_message, journal=journal)
            return None
        return journal.job, result

    async def _requeue(self, journal: Journal, retry_after: float) -> Requeue | None:
        job, at = journal.job, self.clock()
        not_before = at + retry_after
        fields: dict[str, Any] = {"not_before": not_before, "handle": None, "provider": None}
        pending = journal.take()

        async def change(tx: Transaction) -> bool:
            for note in pending:
                await note(tx)
            return await tx.jobs.transition(job.id, S.QUEUED, at=at, **fields)

        if not await self.store.run(change):
            return None
        return Requeue(job.moved(S.QUEUED, at, **fields), not_before)

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
            nsfw_sources=tuple(im.nsfw_source for im in result.images),
            timings=result.timings,
            notes=result.notes,
            enhanced_prompt=(
                result.prompt
                if job.request.enhance and result.prompt and result.prompt != job.request.prompt
                else None
            ),
        )
        at = self.clock()
        fetched = job.moved(S.FETCHED, at, result=summary)

        async def change(tx: Transaction) -> bool:
            moved = await tx.jobs.transition(job.id, S.FETCHED, at=at, result=summary)
            if moved:
                await tx.jobs.save_images(job.id, result.images)
            return moved

        storing = asyncio.ensure_future(self.store.run(change))
        gate = self.router.finishing or contextlib.nullcontext()
        try:
            async with gate:
                posted = await self._post(fetched, result.images)
        finally:
            stored = await storing
        if not stored:
            raise JobGone
        await self._settle(fetched, posted)

    async def _judged(self, result: GenerationResult) -> GenerationResult:
        """The result with a verdict from the bot's classifier for each image its provider
        gave no NSFW flag (off the event loop); unknown stays unknown when it cannot tell."""
        if self.judge is None or all(im.nsfw is not None for im in result.images):
            return result
        images = []
        for image in result.images:
            if image.nsfw is None:
                verdict = await self.judge(image.data)
                if verdict.nsfw is not None:
                    image = image.model_copy(update={"nsfw": verdict.nsfw, "nsfw_source": "bot"})
                else:
                    log.info(
                        "no NSFW verdict for an image of %s: %s", result.provider, verdict.detail
                    )
            images.append(image)
        return result.model_copy(update={"images": tuple(images)})

    async def _post(
        self, job: Job, images: Sequence[GeneratedImage]
    ) -> DeliveryPlan | DeliveryFailed:
        """Post the images as the guild's NSFW rules say; the plan, or why it failed."""
        settings = await self.settings_of(job.guild_id)
        plan = plan_delivery(
            [im.nsfw for im in images],
            policy=settings.nsfw_policy,
            unknown=settings.nsfw_unknown,
            age_restricted=job.age_restricted,
            refund_blocked=settings.refund_blocked,
        )
        plan = replace(plan, verdicts=verdict_line([im.nsfw_source for im in images]))
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
                if exc.permanent or attempt >= DELIVERY_RETRY.attempts:
                    return exc
                await self.sleep(backoff_delay(attempt, DELIVERY_RETRY))

    async def _settle(self, job: Job, posted: DeliveryPlan | DeliveryFailed) -> None:
        """DONE and charged for what was delivered, or FAILED and refunded; one transaction."""
        if isinstance(posted, DeliveryFailed):
            await self.end(job, S.FAILED, posted.user_message)
            return
        charge = posted.charged_images * (job.unit_price or 0)
        provider = job.provider or (job.result.provider if job.result else None)
        at = self.clock()

        async def change(tx: Transaction) -> bool:
            done = await tx.jobs.transition(job.id, S.DONE, at=at, charged=charge, finished_at=at)
            if done:
                await tx.ledger.settle(
                    job_id=job.id,
                    charge=charge,
                    provider=provider,
                    images=posted.charged_images,
                    at=at,
                )
                await tx.jobs.delete_images(job.id)
                await tx.tasks.end_job(job.id, state="delivered", billed=True, reason=None, at=at)
            return done

        if await self.store.run(change):
            await notify(
                self.events.finished, job.moved(S.DONE, at, charged=charge, finished_at=at)
            )
