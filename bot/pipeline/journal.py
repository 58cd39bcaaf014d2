"""One job's submit journal: the router's notes, written in the job's own transactions.

Before a submit leaves, its intent (provider, token, tasks) is stored together with the job's
move to SUBMITTING; the answer is stored with the move to SUBMITTED. Notes that need no write
of their own (an attempt refused, a task failed) wait for the job's next transaction, so a
job's status and its tasks' states always change together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.errors import ContentModerated, ImagineError, SubmitUnknown, describe
from bot.handles import Intent, JobHandle
from bot.jobs import Job
from bot.models import GuildSettings, JobStatus
from bot.pipeline.events import PipelineEvents, notify
from bot.providers.capabilities import Capabilities
from bot.providers.router import Router
from bot.storage.interface import Store, Transaction


class JobWorks(Protocol):
    """What a journal uses of the runner that owns it."""

    store: Store
    router: Router
    events: PipelineEvents
    clock: Callable[[], float]
    settings_of: Callable[[int], Awaitable[GuildSettings]]
    price_of: Callable[[GuildSettings, str], int]
    micros_per_image: Callable[[str], int]

    def capabilities(self, provider: str) -> Capabilities | None:
        """What a configured provider can do and bills."""


S = JobStatus
Note = Callable[[Transaction], Awaitable[None]]
REASON_CHARS = 300


class JobGone(Exception):
    """The job was ended elsewhere (cancelled) while this runner was working on it."""


def attempt_end(error: ImagineError, caps: Capabilities | None) -> tuple[str, bool | None]:
    """How an attempt's open tasks end after ``error``: their state and whether they are paid.

    Refused: no task, nothing paid. Unknown: in doubt. Made and ended: paid unless the
    provider's own terms say it does not bill that outcome.
    """
    accepted = getattr(error, "accepted", None)
    if accepted is False:
        return "refused", False
    if accepted is None or isinstance(error, SubmitUnknown):
        return "unknown", None
    outcome = "moderated" if isinstance(error, ContentModerated) else "failed"
    return outcome, caps.bills(outcome) if caps is not None else True


def job_end(status: JobStatus, was: JobStatus, caps: Capabilities | None) -> tuple[str, bool]:
    """How a job's made tasks end with the job: delivered, or why their images never came."""
    if status is S.DONE:
        return "delivered", True
    if status is S.MODERATED:
        return "moderated", caps.bills("moderated") if caps is not None else True
    if status is S.CANCELLED:
        return "cancelled", True
    if was is S.FETCHED:
        return "lost", True  # made and downloaded, but never posted
    return "failed", caps.bills("failed") if caps is not None else True


def reason_of(error: BaseException) -> str:
    """The log line of an error, short enough for the task log."""
    return describe(error)[:REASON_CHARS]


class Journal:
    """``SubmitJournal`` for one job, on the runner's database."""

    def __init__(self, runner: JobWorks, job: Job) -> None:
        self.runner = runner
        self.job = job
        self._pending: list[Note] = []

    def take(self) -> list[Note]:
        """The notes waiting for the job's next transaction (handed over once)."""
        pending, self._pending = self._pending, []
        return pending

    async def intent(self, intent: Intent) -> None:
        """Store the intent with the job's move to SUBMITTING; JobGone if it ended meanwhile."""
        runner, job = self.runner, self.job
        at = runner.clock()
        first = job.status is S.QUEUED
        fields: dict[str, Any] = {"handle": None}
        if first:
            fields["started_at"] = at
        pending = self.take()
        micros = runner.micros_per_image(intent.provider)

        async def change(tx: Transaction) -> bool:
            for note in pending:
                await note(tx)
            if not await tx.jobs.transition(job.id, S.SUBMITTING, at=at, **fields):
                return False
            await tx.tasks.record_intent(
                job_id=job.id,
                guild_id=job.guild_id,
                intent=intent,
                micros_per_image=micros,
            )
            return True

        if not await runner.store.run(change):
            raise JobGone
        self.job = job.moved(S.SUBMITTING, at, **fields)
        if first:
            await notify(runner.events.started, self.job)

    async def submitted(self, handle: JobHandle) -> None:
        """Store the provider's answer with the job's move to SUBMITTED."""
        runner, job = self.runner, self.job
        settings = await runner.settings_of(job.guild_id)
        at = runner.clock()
        fields: dict[str, Any] = {
            "provider": handle.provider,
            "unit_price": runner.price_of(settings, handle.provider),
            "handle": handle,
        }
        pending = self.take()
        caps = runner.capabilities(handle.provider)

        async def change(tx: Transaction) -> bool:
            for note in pending:
                await note(tx)
            await tx.tasks.record_answer(
                handle.token,
                created=[(task.index, task.id) for task in handle.tasks],
                unknown=handle.unknown,
                ended=handle.ended,
                ended_billed=caps.bills("failed") if caps is not None else True,
                at=at,
            )
            if await tx.jobs.transition(job.id, S.SUBMITTED, at=at, **fields):
                return True
            await tx.tasks.end_attempt(
                handle.token,
                state="cancelled",
                billed=True,
                reason="the job ended while it was being submitted",
                at=at,
            )
            return False

        if not await runner.store.run(change):
            await runner.router.cancel(handle)
            raise JobGone
        self.job = job.moved(S.SUBMITTED, at, **fields)

    def ended(self, token: str, error: ImagineError) -> None:
        """Note that an attempt is over without images; written with the next change."""
        state, billed = attempt_end(error, self.runner.capabilities(error.provider or ""))
        reason, at = reason_of(error), self.runner.clock()
        indices = error.indices if isinstance(error, SubmitUnknown) and error.indices else None

        async def note(tx: Transaction) -> None:
            await tx.tasks.end_attempt(
                token, state=state, billed=billed, reason=reason, at=at, indices=indices
            )
            if indices is not None:
                await tx.tasks.end_attempt(
                    token, state="refused", billed=False, reason=reason, at=at
                )

        self._pending.append(note)
