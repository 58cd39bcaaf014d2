"""What the pipeline tells the layer above it (the Discord cogs) as a job moves along."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from bot.jobs import Job
from bot.models import GeneratedImage
from bot.pipeline.estimates import Estimate
from bot.retry import RetryPolicy
from bot.safety import DeliveryPlan

log = logging.getLogger(__name__)

# How a delivery that failed (and not for good) is tried again: five tries in all, about
# 2, 4, 8 and 16 s apart (``bot.retry.backoff_delay``).
DELIVERY_RETRY = RetryPolicy(attempts=5, base_delay=2.0, max_delay=30.0)


class PipelineEvents(Protocol):
    """Callbacks the pipeline awaits; an exception in one is logged and never stops a job."""

    async def queued(self, job: Job, estimate: Estimate) -> None:
        """A queued job's position or estimated start changed."""

    async def started(self, job: Job) -> None:
        """The job left the queue and is going to a provider."""

    async def deliver(self, job: Job, images: Sequence[GeneratedImage], plan: DeliveryPlan) -> None:
        """Post the images as ``plan`` says. Must be idempotent by ``job.id``: after a restart
        it may be called again for a job whose images were already posted. Raise
        ``DeliveryFailed`` when posting failed (``permanent=True`` if retrying cannot help)."""

    async def finished(self, job: Job) -> None:
        """The job ended (done, failed, cancelled, moderated); ``job.error`` says why."""


class SilentEvents:
    """Events for running the pipeline with nobody to tell (tests, benchmarks, the CLI)."""

    async def queued(self, job: Job, estimate: Estimate) -> None:
        """Nothing to show."""

    async def started(self, job: Job) -> None:
        """Nothing to show."""

    async def deliver(self, job: Job, images: Sequence[GeneratedImage], plan: DeliveryPlan) -> None:
        """Nowhere to post."""

    async def finished(self, job: Job) -> None:
        """Nothing to show."""


class Relay:
    """The pipeline's one events object: it passes each event to whoever listens now.

    The pipeline and its runner are built before the Discord layer exists; the layer
    connects itself later (``Pipeline.attach``), and nothing has to be patched.
    """

    def __init__(self, listener: PipelineEvents | None = None) -> None:
        self.listener: PipelineEvents = listener or SilentEvents()

    def connect(self, listener: PipelineEvents) -> None:
        """Send every event from now on to ``listener``."""
        self.listener = listener

    async def queued(self, job: Job, estimate: Estimate) -> None:
        """Pass it on."""
        await self.listener.queued(job, estimate)

    async def started(self, job: Job) -> None:
        """Pass it on."""
        await self.listener.started(job)

    async def deliver(self, job: Job, images: Sequence[GeneratedImage], plan: DeliveryPlan) -> None:
        """Pass it on (its failure is the listener's to report)."""
        await self.listener.deliver(job, images, plan)

    async def finished(self, job: Job) -> None:
        """Pass it on."""
        await self.listener.finished(job)


async def notify(callback: Callable[..., Awaitable[None]], job: Job, *args: Any) -> None:
    """Await one event; a failure in the layer above is logged and never stops the job."""
    try:
        await callback(job, *args)
    except Exception:
        log.exception("event %s for job %d failed", getattr(callback, "__name__", "?"), job.id)
