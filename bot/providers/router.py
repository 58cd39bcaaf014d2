"""Choosing a provider for each request and failing over between them.

Order: the operator's configured order, minus providers that cannot serve the
request exactly and those whose breaker is open. A submit moves on to the next
provider only when the first PROVED it made no task (a refusal: rate limit,
refused key, empty balance, a 4xx) or reported the task failed. A lost answer
(timeout, dropped connection, gateway error, unreadable body) proves nothing:
the task may exist and be billed, so the image goes nowhere else
(``SubmitUnknown``). Moderation and invalid input never move on.

A ``SubmitJournal`` makes this survive a crash: every submit is preceded by a
durable ``Intent`` (provider, token), and every handle is stored when it comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from bot.errors import (
    ImagineError,
    NoProviderAvailable,
    RateLimited,
    SubmitUnknown,
    TaskFailed,
    describe,
)
from bot.handles import Intent, JobHandle
from bot.models import GenerationRequest, GenerationResult
from bot.providers.base import Provider, new_token
from bot.providers.capacity import ProviderSlots
from bot.providers.health import CircuitBreaker, ProviderHealth, counts_against_health

log = logging.getLogger(__name__)
BUSY = "busy: every task slot is in use"


class SubmitJournal(Protocol):
    """Where the router writes down what it asks of providers (the pipeline: the database)."""

    async def intent(self, intent: Intent) -> None:
        """Make the intent durable; it must land before the submit leaves."""

    async def submitted(self, handle: JobHandle) -> None:
        """Make the provider's answer durable (the handle to resume from)."""

    def ended(self, token: str, error: ImagineError) -> None:
        """The attempt ``token`` is over without images: refused, in doubt, or failed."""


def may_move_on(error: ImagineError) -> bool:
    """Whether the image may go to another provider after ``error`` at this one: only when
    this one proved it has no task (a refusal) or that its task failed, never when unknown."""
    return error.failover and getattr(error, "accepted", None) is not None


class Router:
    """The one entry to the providers for the rest of the bot."""

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        clock: Callable[[], float] = time.monotonic,
        breaker_threshold: int = 3,
        breaker_cooldown: float = 30.0,
        concurrency: dict[str, int | None] | None = None,
        finishing: int | None = None,
    ) -> None:
        self.providers: dict[str, Provider] = {p.name: p for p in providers}
        self.finishing = asyncio.Semaphore(finishing) if finishing else None
        for provider in providers:
            provider.gate = self.finishing
        limits = {p.name: p.capabilities.max_concurrent_tasks for p in providers}
        self.slots = ProviderSlots({**limits, **(concurrency or {})})
        self.health: dict[str, ProviderHealth] = {
            p.name: ProviderHealth(
                CircuitBreaker(clock=clock, threshold=breaker_threshold, cooldown=breaker_cooldown)
            )
            for p in providers
        }

    def refusals(self, request: GenerationRequest, *, only: str | None = None) -> dict[str, str]:
        """Why each configured provider cannot serve ``request`` exactly (empty reasons omitted)."""
        reasons: dict[str, str] = {}
        for name, provider in self._pool(only).items():
            why = provider.capabilities.refusals(request)
            limit = self.slots.limit(name)
            if not why and limit is not None:
                tasks = self.tasks_for(request, name)
                if tasks > limit:
                    most = limit * provider.capabilities.max_images_per_task
                    why.append(
                        f"{request.count} images take {tasks} tasks at once and {name} runs "
                        f"at most {limit} (ask for {most} or fewer)"
                    )
            if why:
                reasons[name] = "; ".join(why)
        return reasons

    def can_serve(self, request: GenerationRequest) -> bool:
        """True when at least one configured provider can serve ``request`` exactly."""
        return len(self.refusals(request)) < len(self.providers)

    def tasks_for(self, request: GenerationRequest, provider: str) -> int:
        """How many provider tasks ``request`` takes at ``provider``."""
        return len(self.providers[provider].plan(request).images_per_task)

    def has_room(self, demand: dict[str, int]) -> bool:
        """Whether any of these providers (name → tasks needed) has room for the job now."""
        return any(self.slots.fits(name, tasks) for name, tasks in demand.items())

    async def submit(
        self,
        request: GenerationRequest,
        *,
        exclude: Sequence[str] = (),
        only: str | None = None,
        journal: SubmitJournal | None = None,
    ) -> JobHandle:
        """Submit to the first provider that takes the job; move on only where it is safe."""
        reasons = self.refusals(request, only=only)
        errors: dict[str, ImagineError] = {}
        last: ImagineError | None = None
        for name, provider in self._pool(only).items():
            if name in reasons:
                continue
            if name in exclude:
                reasons[name] = "already tried for this job"
                continue
            plan = provider.plan(request)
            tasks = len(plan.images_per_task)
            if not self.slots.fits(name, tasks):
                reasons[name] = BUSY
                continue
            breaker = self.health[name].breaker
            if not breaker.allow():
                reasons[name] = f"paused after failures (retry in {breaker.retry_in():.0f} s)"
                continue
            self.slots.claim(name, tasks)
            intent = Intent(name, new_token(), plan.images_per_task, provider.clock())
            try:
                if journal is not None:
                    await journal.intent(intent)
                handle = await provider.submit(request, intent.token)
            except BaseException as exc:
                self.slots.release(name, tasks)
                if not isinstance(exc, ImagineError):
                    breaker.release_trial()
                    raise
                self._failed(name, exc)
                if journal is not None:
                    journal.ended(intent.token, exc)
                if not may_move_on(exc):
                    raise
                log.warning(
                    "submit to %s failed, trying the next provider: %s", name, describe(exc)
                )
                reasons[name] = exc.user_message
                errors[name] = last = exc
                continue
            if len(handle.tasks) < tasks:
                self.slots.release(name, tasks - len(handle.tasks))
            return handle
        retry_after = self._retry_after(last)
        if BUSY in reasons.values():
            retry_after = 0.0  # a slot frees when a running job ends: wait in the queue
        raise NoProviderAvailable(reasons, retry_after=retry_after, errors=errors) from last

    async def wait(self, handle: JobHandle) -> GenerationResult:
        """Wait for a submitted job at the provider that has it, and record how it went."""
        provider = self.providers.get(handle.provider)
        if provider is None:
            raise TaskFailed(
                f"job {handle.job_id} was submitted to {handle.provider}, which is no longer "
                "configured",
                provider=handle.provider,
            )
        try:
            result = await provider.wait(handle)
        except ImagineError as exc:
            self._failed(handle.provider, exc)
            raise
        health = self.health[handle.provider]
        health.breaker.record_success()
        health.record(True, result.timings.total)
        return result

    async def generate(
        self,
        request: GenerationRequest,
        *,
        journal: SubmitJournal | None = None,
        only: str | None = None,
        handle: JobHandle | None = None,
    ) -> GenerationResult:
        """Submit (or, given a ``handle``, pick up a submitted job) and wait for it.

        On a provider-side task failure the job moves to a provider not yet tried.
        Task slots are held from submit until the provider is done with the job.
        """
        tried: list[str] = []
        if handle is not None:
            self.slots.claim(handle.provider, len(handle.tasks))
        while True:
            if handle is None:
                handle = await self.submit(request, exclude=tried, only=only, journal=journal)
                if journal is not None:
                    try:
                        await journal.submitted(handle)
                    except BaseException:
                        self.slots.release(handle.provider, len(handle.tasks))
                        raise
            try:
                return await self.wait(handle)
            except TaskFailed as exc:
                tried.append(handle.provider)
                if journal is not None:
                    journal.ended(handle.token, exc)
                log.warning(
                    "%s failed the task, trying another provider: %s",
                    handle.provider,
                    describe(exc),
                )
                if not self._has_untried(request, tried, only):
                    raise
            finally:
                self.slots.release(handle.provider, len(handle.tasks))
            handle = None

    async def resume(self, handle: JobHandle, request: GenerationRequest) -> GenerationResult:
        """Finish a job submitted before a restart (moving on if its provider failed it)."""
        return await self.generate(request, handle=handle)

    async def recover(self, request: GenerationRequest, intent: Intent) -> JobHandle:
        """Settle a submit that a restart interrupted, at the provider it was sent to only.

        Returns the handle of the tasks found; raises ``SubmitUnknown`` when they can be
        neither found nor ruled out, and ``TaskFailed`` (accepted False) when the provider
        proves it has none (the job may then be sent again).
        """
        provider = self.providers.get(intent.provider)
        if provider is None:
            raise SubmitUnknown(
                f"{intent.provider} is no longer configured, so a submit interrupted by a "
                "restart cannot be checked",
                provider=intent.provider,
                tasks=len(intent.images),
            )
        return await provider.recover(request, intent)

    async def cancel(self, handle: JobHandle) -> bool:
        """Ask the provider to stop the job; False where it cannot or did not confirm."""
        provider = self.providers.get(handle.provider)
        if provider is None:
            return False
        try:
            return await provider.cancel(handle)
        except ImagineError as exc:
            log.warning("cancel at %s failed: %s", handle.provider, describe(exc))
            return False

    def _pool(self, only: str | None) -> dict[str, Provider]:
        if only is None:
            return self.providers
        return {only: self.providers[only]} if only in self.providers else {}

    def _has_untried(self, request: GenerationRequest, tried: list[str], only: str | None) -> bool:
        refused = self.refusals(request, only=only)
        return any(name not in tried and name not in refused for name in self._pool(only))

    def _failed(self, name: str, error: ImagineError) -> None:
        health = self.health[name]
        if counts_against_health(error):
            health.breaker.record_failure(error)
            health.record(False, 0.0)
        else:
            health.breaker.release_trial()

    def _retry_after(self, last: ImagineError | None) -> float | None:
        waits = [h.breaker.retry_in() for h in self.health.values() if h.breaker.retry_in() > 0]
        if isinstance(last, RateLimited) and last.retry_after is not None:
            waits.append(last.retry_after)
        return min(waits) if waits else None
