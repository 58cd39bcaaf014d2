"""A generation job: its record, and which status may follow which.

The database holds the truth about every job; this is its shape in memory. A
change of status is only valid along ``ALLOWED``; storage applies it with a
compare-and-set, so a job that already ended cannot be settled or refunded twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.handles import JobHandle
from bot.models import GenerationRequest, JobStatus, Timings

S = JobStatus

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    # QUEUED again: a job no provider could take yet waits for its retry time.
    S.QUEUED: frozenset({S.QUEUED, S.SUBMITTING, S.CANCELLED, S.FAILED}),
    # SUBMITTING is "an intent is stored, the answer is not": again when a provider refused
    # and the next one is tried; back to QUEUED when every provider is busy.
    S.SUBMITTING: frozenset(
        {S.SUBMITTING, S.SUBMITTED, S.QUEUED, S.FAILED, S.MODERATED, S.CANCELLED}
    ),
    # SUBMITTING when the provider reported a failed task and another is tried (a new intent);
    # QUEUED when it failed and every other provider is busy.
    S.SUBMITTED: frozenset({S.SUBMITTING, S.QUEUED, S.FETCHED, S.FAILED, S.MODERATED, S.CANCELLED}),
    S.FETCHED: frozenset({S.DONE, S.FAILED}),
    S.DONE: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.MODERATED: frozenset(),
}


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """The statuses a job may be in to move to ``target``."""
    return frozenset(s for s, nexts in ALLOWED.items() if target in nexts)


class ResultSummary(BaseModel):
    """What is kept of a result once its images are delivered (the bytes are not)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    provider_job_id: str
    seed: int | None
    images: int
    nsfw: tuple[bool | None, ...]
    nsfw_sources: tuple[str | None, ...] = ()
    timings: Timings
    notes: tuple[str, ...] = ()
    enhanced_prompt: str | None = None


@dataclass
class Job:
    """One member's request and everything that happened to it."""

    id: int
    guild_id: int
    user_id: int
    channel_id: int
    status: JobStatus
    request: GenerationRequest
    hold: int
    created_at: float
    updated_at: float
    age_restricted: bool = False
    provider: str | None = None
    unit_price: int | None = None
    handle: JobHandle | None = None
    result: ResultSummary | None = None
    error: str | None = None
    charged: int | None = None
    context: dict[str, Any] = field(default_factory=dict)
    not_before: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def terminal(self) -> bool:
        """True once nothing more will happen to this job."""
        return self.status.terminal

    def moved(self, to: JobStatus, at: float, **fields: Any) -> Job:
        """This job as storage has it after a successful transition to ``to``."""
        return replace(self, status=to, updated_at=at, **fields)
