"""Status messages: a member sees a queue line only when the wait is worth showing."""

from __future__ import annotations

from typing import Any

from bot.jobs import Job
from bot.models import GenerationRequest, JobStatus
from bot.pipeline.estimates import Estimate
from cogs.delivery import DiscordEvents

EDIT_EVERY = 3.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordedEdits(DiscordEvents):
    """DiscordEvents whose status edits are recorded instead of sent to Discord."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(None, None, edit_every=EDIT_EVERY, clock=clock)  # type: ignore[arg-type]
        self.edits: list[tuple[int, str]] = []

    async def _edit(self, entry: Any, now: float) -> None:
        entry.shown, entry.edited_at = entry.text, now
        self.edits.append((entry.job.id, entry.text))


def job(job_id: int, clock: Clock) -> Job:
    return Job(
        id=job_id,
        guild_id=1,
        user_id=2,
        channel_id=3,
        status=JobStatus.QUEUED,
        request=GenerationRequest(prompt="a lighthouse"),
        hold=6,
        created_at=clock.now,
        updated_at=clock.now,
        context={"interaction_at": clock.now},
    )


async def test_a_short_wait_keeps_thinking_even_across_a_refresh() -> None:
    clock = Clock()
    events = RecordedEdits(clock)
    await events.track(job(1, clock), Estimate(position=3, starts_in=1.5))
    clock.now += 1.0
    await events.refresh()
    assert events.edits == [], "a job waiting under 3 s shows Discord's own 'thinking…'"
    await events.started(job(1, clock))
    clock.now += 1.0
    await events.refresh()
    assert events.edits == [], "and goes on to its result without an edit"


async def test_a_job_still_waiting_after_the_edit_interval_shows_its_place() -> None:
    clock = Clock()
    events = RecordedEdits(clock)
    await events.track(job(1, clock), Estimate(position=3, starts_in=2.0))
    clock.now += EDIT_EVERY
    await events.refresh()
    assert [(i, t.splitlines()[0]) for i, t in events.edits] == [
        (1, "🕒 Queued: 3 ahead of you, starting in a moment.")
    ]


async def test_a_long_expected_wait_is_shown_at_once() -> None:
    clock = Clock()
    events = RecordedEdits(clock)
    await events.track(job(1, clock), Estimate(position=40, starts_in=90.0))
    assert len(events.edits) == 1
    assert "40 ahead of you" in events.edits[0][1]
