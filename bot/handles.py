"""A submitted job as the provider knows it: task ids, URLs, and outcomes.

``JobHandle`` is small and JSON-serialisable, so a restarted bot can pick up jobs it
had submitted; ``Intent`` is the durable note written before a submit leaves;
``TaskOutcome``/``Pending`` are what adapters read from answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


def flag_at(flags: Any, index: int) -> bool | None:
    """The provider's NSFW flag for image ``index`` from its list of flags (booleans, or the
    strings "true"/"false"); None when the list is missing, short or holds something else."""
    if not isinstance(flags, list) or index >= len(flags):
        return None
    flag = flags[index]
    if isinstance(flag, str) and flag.strip().lower() in ("true", "false"):
        return flag.strip().lower() == "true"
    return flag if isinstance(flag, bool) else None


class ImageRef(BaseModel):
    """One finished image at the provider: where to fetch it and its NSFW flag."""

    model_config = ConfigDict(frozen=True)

    url: str
    nsfw: bool | None = None  # the provider's flag; None where it gives none
    seed: int | None = None


class TaskOutcome(BaseModel):
    """A provider task that finished with images."""

    model_config = ConfigDict(frozen=True)

    images: tuple[ImageRef, ...]
    seed: int | None = None
    provider_seconds: float | None = None
    prompt: str | None = None  # the prompt the provider says it used (rewritten if enhanced)


@dataclass(frozen=True)
class Pending:
    """A provider task still running; ``progress`` from 0 to 1 when the provider tells."""

    progress: float | None = None


class TaskRef(BaseModel):
    """One task at a provider: its id, the URLs it gave, and its outcome if already known."""

    model_config = ConfigDict(frozen=True)

    id: str
    seed: int | None = None
    count: int = 1
    urls: dict[str, str] = {}
    outcome: TaskOutcome | None = None
    index: int = 0


@dataclass(frozen=True)
class Intent:
    """What the bot is about to ask a provider for, stored before the request leaves.

    ``token`` names this attempt: Apiframe's Idempotency-Key and Replicate's derived seeds
    come from it, so after a lost answer or a restart the same tasks can be found again.
    ``images`` holds the images each planned task makes, in plan order.
    """

    provider: str
    token: str
    images: tuple[int, ...]
    at: float


class JobHandle(BaseModel):
    """All a restarted bot needs to pick up a submitted job; stored as JSON.

    ``tasks`` are the tasks the provider has; ``unknown`` lists the plan indices whose submit
    answer was lost (they may exist and be billed); ``ended`` those made and already ended
    without an image. Indices in none of them were refused: the provider has no such task.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    tasks: tuple[TaskRef, ...]
    submitted_at: float
    submit_seconds: float = 0.0
    notes: tuple[str, ...] = ()
    token: str = ""
    unknown: tuple[int, ...] = ()
    ended: tuple[int, ...] = ()

    @property
    def job_id(self) -> str:
        """The provider's job id (task ids joined when one job took several tasks)."""
        return ",".join(task.id for task in self.tasks)
