"""The pipeline's facade: what the Discord layer calls, and the loops that move jobs.

A job is admitted (ban, channel, blocklist, providers, limits, credits held) in
one transaction, waits in the fair scheduler, and is run by the JobRunner when a
slot frees. Memory holds only the queue order and caches; at start everything is
rebuilt from the database, and unfinished jobs are resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.errors import (
    Banned,
    Cancelled,
    ChannelNotAllowed,
    NoProviderAvailable,
    NotYours,
    PromptBlocked,
    ShuttingDown,
    TooLateToCancel,
    UnknownJob,
)
from bot.jobs import Job
from bot.models import GenerationRequest, JobStatus
from bot.money import to_micros
from bot.nsfw import Classifier
from bot.pipeline.estimates import DEFAULT_JOB_SECONDS, Estimate, Ticket
from bot.pipeline.events import PipelineEvents, Relay, notify
from bot.pipeline.guilds import GuildDirectory
from bot.pipeline.runner import JobRunner, Requeue
from bot.pipeline.scheduler import Scheduler
from bot.providers.router import Router
from bot.safety import request_tolerance
from bot.settings import Settings
from bot.storage.interface import Store, Transaction
from bot.storage.records import Balance, LedgerEntry
from bot.text import N_

log = logging.getLogger(__name__)

S = JobStatus
ADMISSION_ESTIMATE_LIMIT = 100


@dataclass(frozen=True)
class Submission:
    """A member's request as the Discord layer hands it over."""

    guild_id: int
    user_id: int
    channel_id: int
    request: GenerationRequest
    age_restricted: bool = False
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Admitted:
    """A job accepted into the queue: its record, credits held, and where it stands."""

    job: Job
    estimate: Estimate | None


class Pipeline:
    """Admits, schedules, runs and resumes jobs; the only way the bot makes images."""

    def __init__(
        self,
        store: Store,
        router: Router,
        operator: Settings,
        events: PipelineEvents | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        progress_interval: float = 2.0,
        classifier: Classifier | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.operator = operator
        self.events = Relay(events)
        self.clock = clock
        self.monotonic = monotonic
        self.progress_interval = progress_interval
        self.guilds = GuildDirectory(store, operator, clock=clock, on_change=self._guild_changed)
        self.scheduler = Scheduler(
            limits=self.guilds.cached_settings,
            global_max_running=operator.max_running_jobs,
            starts_per_second=operator.max_starts_per_second,
        )
        self.runner = JobRunner(
            store,
            router,
            self.events,
            settings_of=self.guilds.settings,
            price_of=self.guilds.price_of,
            micros_per_image=self.micros_per_image,
            judge=classifier.classify if classifier is not None else None,
            clock=clock,
        )
        self._jobs: dict[int, Job] = {}  # queued jobs, so a start needs no read
        self._admitting: Counter[tuple[int, int | None]] = Counter()
        self._demand: dict[int, dict[str, int]] = {}
        self._running: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()
        self._shown: dict[int, tuple[int, float]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._job_seconds = DEFAULT_JOB_SECONDS

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild the queue from the database, resume unfinished jobs, start the loops."""
        unfinished = await self.store.run(lambda tx: tx.jobs.unfinished())
        for job in unfinished:
            await self.guilds.state(job.guild_id)
            if job.status is S.QUEUED:
                refused = self.router.refusals(job.request)
                if len(refused) == len(self.router.providers):
                    # Admitted under another configuration: it could never start now.
                    await self.runner.end(job, S.FAILED, NoProviderAvailable(refused).user_message)
                    continue
                self._enqueue(job)
            else:
                ticket = self._ticket(job)
                self.scheduler.mark_running(ticket)
                self._launch(ticket, self.runner.run(job))
        if unfinished:
            log.info("resumed %d unfinished jobs", len(unfinished))
        self._loops = [
            asyncio.create_task(self._dispatch_loop(), name="pipeline-dispatch"),
            asyncio.create_task(self._progress_loop(), name="pipeline-progress"),
        ]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking jobs; let submits in flight land (up to ``grace`` s), leave the rest
        in a state the next start resumes."""
        self._stopping = True
        self._wake.set()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        running = dict(self._running)
        if running:
            statuses = {
                j.id: j.status for j in await self.store.run(lambda tx: tx.jobs.many(list(running)))
            }
            sending = [t for jid, t in running.items() if statuses.get(jid) is S.SUBMITTING]
            for jid, task in running.items():
                if statuses.get(jid) is not S.SUBMITTING:
                    task.cancel()
            if sending:
                await asyncio.wait(sending, timeout=grace)
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    # --- members ----------------------------------------------------------------------

    async def submit(self, sub: Submission) -> Admitted:
        """Admit a job or refuse it with the reason; nothing is charged on refusal."""
        if self._stopping:
            raise ShuttingDown()
        cache = await self.guilds.state(sub.guild_id)
        if sub.user_id in cache.banned:
            raise Banned(cache.banned[sub.user_id])
        if not cache.settings.channel_allowed(sub.channel_id):
            raise ChannelNotAllowed()
        if (phrase := cache.blocklist.match(sub.request.prompt)) is not None:
            raise PromptBlocked(phrase)
        request = sub.request.model_copy(
            update={
                "safety_tolerance": request_tolerance(
                    cache.settings,
                    age_restricted=sub.age_restricted,
                    ceiling=self.operator.max_safety_tolerance,
                )
            }
        )
        refused = self.router.refusals(request)
        demand = {
            name: self.router.tasks_for(request, name)
            for name in self.router.providers
            if name not in refused
        }
        if not demand:
            raise NoProviderAvailable(refused)
        hold = request.count * max(self.guilds.price_of(cache.settings, name) for name in demand)
        guild_key, user_key = (sub.guild_id, None), (sub.guild_id, sub.user_id)
        # No await between the check and the count: concurrent admissions see each other.
        self.scheduler.check_admission(
            sub.guild_id,
            sub.user_id,
            self.monotonic(),
            self._job_seconds,
            admitting_guild=self._admitting[guild_key],
            admitting_user=self._admitting[user_key],
        )
        at = self.clock()
        allowance = cache.settings.daily_allowance

        async def admit(tx: Transaction) -> Job:
            job = await tx.jobs.insert(
                guild_id=sub.guild_id,
                user_id=sub.user_id,
                channel_id=sub.channel_id,
                age_restricted=sub.age_restricted,
                request=request,
                hold=hold,
                context=sub.context,
                at=at,
            )
            await tx.ledger.hold(
                guild_id=sub.guild_id,
                user_id=sub.user_id,
                job_id=job.id,
                amount=hold,
                at=at,
                allowance=allowance,
            )
            return job

        self._admitting.update((guild_key, user_key))
        try:
            job = await self.store.run(admit)
        finally:
            self._admitting.subtract((guild_key, user_key))
            for key in (guild_key, user_key):
                if self._admitting[key] <= 0:
                    del self._admitting[key]
        self._demand[job.id] = demand
        self._enqueue(job)
        return Admitted(job, self._admission_estimate(job))

    async def cancel(self, job_id: int, *, by: int, moderator: bool = False) -> Job:
        """Cancel a job: a queued one at once, a submitted one at the provider where it can be."""
        job = await self.job(job_id)
        if job is None:
            raise UnknownJob()
        if job.user_id != by and not moderator:
            raise NotYours(N_("cancel it"))
        reason = Cancelled(by_moderator=job.user_id != by).user_message
        if job.status is S.SUBMITTED and job.handle is not None:
            provider = self.router.providers.get(job.handle.provider)
            if provider is None or not provider.capabilities.cancel:
                label = provider.label if provider else job.handle.provider
                raise TooLateToCancel("unstoppable", label=label)
            if not await self.router.cancel(job.handle):
                raise TooLateToCancel("arriving")
        elif job.status not in (S.QUEUED, S.SUBMITTING):
            raise TooLateToCancel("finished" if job.terminal else "posting")
        ended = await self.runner.end(job, S.CANCELLED, reason)
        if ended is None:
            raise TooLateToCancel("moved_on")
        if self.scheduler.remove(job_id) is not None:
            self._forget(job_id, job.guild_id)
        task = self._running.get(job_id)
        if task is not None and job.status is S.SUBMITTED:
            task.cancel()
        return ended

    def attach(self, events: PipelineEvents) -> None:
        """Tell ``events`` (the Discord layer) about every job from now on; call before start."""
        self.events.connect(events)

    async def history(self, guild_id: int, user_id: int, *, limit: int = 5) -> list[LedgerEntry]:
        """The member's latest credit movements in this guild, newest first."""
        return await self.store.run(
            lambda tx: tx.reports.user_history(guild_id, user_id, limit=limit)
        )

    async def drain(self) -> None:
        """Wait until nothing is queued or running (benchmarks, tests, maintenance)."""
        while self._running or self.scheduler.queued():
            self._idle.clear()
            await self._idle.wait()

    async def job(self, job_id: int) -> Job | None:
        """One job as stored."""
        return await self.store.run(lambda tx: tx.jobs.get(job_id))

    def estimate(self, job_id: int) -> Estimate | None:
        """Position and estimated start of a queued job (None once it started)."""
        return self.scheduler.estimate(job_id, self.monotonic(), self._job_seconds)

    async def jobs_of(self, guild_id: int, user_id: int) -> list[tuple[Job, Estimate | None]]:
        """A member's unfinished jobs with their queue estimates, oldest first."""
        unfinished = [S.QUEUED, S.SUBMITTING, S.SUBMITTED, S.FETCHED]
        found = await self.store.run(lambda tx: tx.jobs.of_user(guild_id, user_id, unfinished))
        return [(job, self.estimate(job.id)) for job in reversed(found)]

    async def ended_with_note(
        self, guild_id: int, user_id: int, key: str, *, limit: int = 20
    ) -> list[Job]:
        """A member's recently ended jobs whose context holds ``key`` (a note the Discord layer
        kept for them), newest first."""
        ended = [S.DONE, S.FAILED, S.CANCELLED, S.MODERATED]
        found = await self.store.run(
            lambda tx: tx.jobs.of_user(guild_id, user_id, ended, limit=limit)
        )
        return [job for job in found if job.context.get(key)]

    async def balance(self, guild_id: int, user_id: int) -> Balance:
        """The member's credits in this guild (today's allowance topped up first)."""
        settings = await self.guilds.settings(guild_id)
        at = self.clock()
        return await self.store.run(
            lambda tx: tx.ledger.balance(
                guild_id=guild_id, user_id=user_id, at=at, allowance=settings.daily_allowance
            )
        )

    async def set_context(self, job_id: int, context: dict[str, Any]) -> None:
        """Store the Discord layer's data for a job (message ids and the like)."""
        await self.store.run(lambda tx: tx.jobs.set_context(job_id, context))

    # --- the loops ------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            now = self.monotonic()
            while (ticket := self.scheduler.next(now, self._can_start)) is not None:
                self._dirty.add(ticket.guild_id)
                self._launch(ticket, self._start(ticket.job_id))
            timeout = self.scheduler.wake_in(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _progress_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.progress_interval)
            try:
                await self._publish_estimates()
            except Exception:
                log.exception("publishing queue estimates failed")

    async def _publish_estimates(self) -> None:
        dirty, self._dirty = self._dirty, set()
        self._job_seconds = self._typical_job_seconds()
        now, seconds = self.monotonic(), self._job_seconds
        changed: dict[int, Estimate] = {}
        for guild_id in dirty:
            for job_id, est in self.scheduler.estimates(guild_id, now, seconds).items():
                start = now + est.starts_in
                shown = self._shown.get(job_id)
                if shown is None or shown[0] != est.position or abs(shown[1] - start) > 5.0:
                    self._shown[job_id] = (est.position, start)
                    changed[job_id] = est
        if not changed:
            return
        for job in await self.store.run(lambda tx: tx.jobs.many(list(changed))):
            if job.status is S.QUEUED:
                await notify(self.events.queued, job, changed[job.id])

    # --- helpers ----------------------------------------------------------------------

    async def _start(self, job_id: int) -> Requeue | None:
        job = self._jobs.pop(job_id, None) or await self.job(job_id)
        if job is None or job.status is not S.QUEUED:
            return None  # cancelled between the scheduler's choice and now
        return await self.runner.run(job)

    def micros_per_image(self, provider: str) -> int:
        """What one image costs the operator at ``provider``, in millionths of a US dollar."""
        usd = self.operator.provider_costs.get(provider)
        if usd is None:
            found = self.router.providers.get(provider)
            usd = found.capabilities.usd_per_image if found is not None else Decimal(0)
        return to_micros(usd)

    def _launch(self, ticket: Ticket, work: Any) -> None:
        task = asyncio.create_task(work, name=f"job-{ticket.job_id}")
        self._running[ticket.job_id] = task
        task.add_done_callback(functools.partial(self._ended, ticket))

    def _ended(self, ticket: Ticket, task: asyncio.Task[Any]) -> None:
        self._running.pop(ticket.job_id, None)
        self._dirty.add(ticket.guild_id)
        outcome = None if task.cancelled() or task.exception() else task.result()
        if isinstance(outcome, Requeue) and not self._stopping:
            wait = max(0.0, outcome.not_before - self.clock())
            self._jobs[ticket.job_id] = outcome.job
            self.scheduler.put_back(ticket.job_id, self.monotonic() + wait)
        else:
            self.scheduler.finished(ticket.job_id)
            self._demand.pop(ticket.job_id, None)
            self._shown.pop(ticket.job_id, None)
        if not self._running and not self.scheduler.queued():
            self._idle.set()
        self._wake.set()

    def _enqueue(self, job: Job) -> None:
        if job.id not in self._demand:
            refused = self.router.refusals(job.request)
            self._demand[job.id] = {
                name: self.router.tasks_for(job.request, name)
                for name in self.router.providers
                if name not in refused
            }
        self._jobs[job.id] = job
        self.scheduler.push(self._ticket(job))
        self._dirty.add(job.guild_id)
        self._wake.set()

    def _ticket(self, job: Job) -> Ticket:
        now_wall, now_mono = self.clock(), self.monotonic()
        return Ticket(
            job_id=job.id,
            guild_id=job.guild_id,
            user_id=job.user_id,
            enqueued_at=now_mono - max(0.0, now_wall - job.created_at),
            not_before=now_mono + max(0.0, job.not_before - now_wall),
        )

    def _forget(self, job_id: int, guild_id: int) -> None:
        self._jobs.pop(job_id, None)
        self._demand.pop(job_id, None)
        self._shown.pop(job_id, None)
        self._dirty.add(guild_id)
        if not self._running and not self.scheduler.queued():
            self._idle.set()
        self._wake.set()

    def _admission_estimate(self, job: Job) -> Estimate | None:
        # A position costs a walk of the guild's queue; past a few hundred waiting jobs the
        # next progress update tells it instead, so a flood never makes admission quadratic.
        if self.scheduler.queued(job.guild_id) > ADMISSION_ESTIMATE_LIMIT:
            return None
        return self.estimate(job.id)

    def _can_start(self, ticket: Ticket) -> bool:
        demand = self._demand.get(ticket.job_id)
        return demand is None or self.router.has_room(demand)

    def _typical_job_seconds(self) -> float:
        medians = [
            h.median_seconds for h in self.router.health.values() if h.median_seconds is not None
        ]
        return statistics.median(medians) if medians else DEFAULT_JOB_SECONDS

    def _guild_changed(self, guild_id: int) -> None:
        self.scheduler.refresh(guild_id, self.monotonic())
        self._dirty.add(guild_id)
        self._wake.set()
