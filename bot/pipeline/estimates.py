"""Where a queued job stands: its position in its guild and when it should start.

Estimate model (``Scheduler.estimates``)
    Position: the guild's jobs are listed in the order round-robin would start them if nothing
    else arrived — round r takes each user's r-th job, users in their current turn order — and a
    job's position is how many come before it. It ignores caps, which can only reorder briefly.
    Start time: jobs are walked in that order; job j starts at the earliest time that is
    - no earlier than job j-1 (positions are start order, so estimates never decrease),
    - no earlier than its ``not_before``,
    - when one of the guild's ``max_running`` slots is free: the slots held by running jobs free
      at ``started_at + job_seconds`` (never before now; ``job_seconds / 2`` from now for a job
      whose start is unknown), a slot taken by a queued job j frees at its start + job_seconds,
    - the same for the user's ``user_max_running`` slots,
    - when the guild's fair share of the global cap allows: of the free global slots it gets
      ``free / n`` now, then one start every ``job_seconds * n / global_max_running`` seconds,
      ``n`` being the number of guilds with queued jobs,
    - when the guild's fair share of the global start rate allows: of the tokens the global
      bucket holds it gets ``tokens / n`` now, then one start every ``n / rate`` seconds,
    - when the guild's token bucket, drained by the starts before, holds a token again.
    ``starts_in`` is that time minus now. It is a forecast, not a promise: new guilds, finishes
    earlier or later than ``job_seconds``, and provider capacity all move it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from bot.models import GuildSettings
from bot.pipeline.ratelimit import EPSILON, TokenBucket

# How long one job takes from start to images, before any provider has finished one: FLUX 1.1
# [pro] Ultra makes an image in about 10 s. The providers' own medians replace it once known.
DEFAULT_JOB_SECONDS = 10.0


@dataclass(slots=True)
class Ticket:
    """A queued job as the scheduler sees it: who asked, where, and when it may start."""

    job_id: int
    guild_id: int
    user_id: int
    enqueued_at: float
    not_before: float = 0.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """Where a queued job stands: jobs of its guild ahead of it, and seconds until it starts."""

    position: int
    starts_in: float


@dataclass(slots=True)
class Slots:
    """When the n-th new start finds one of ``cap`` slots free (see the estimate model)."""

    cap: int
    ready: list[float]
    starts: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, cap: int, finishes: list[float]) -> Slots:
        finishes.sort()
        return cls(cap, finishes[len(finishes) - cap :] if len(finishes) > cap else finishes)

    def earliest(self, n: int, now: float, job_seconds: float) -> float:
        if n >= self.cap:
            return self.starts[n - self.cap] + job_seconds
        free_now = self.cap - len(self.ready)
        return now if n < free_now else self.ready[n - free_now]


def forecast(
    users: Mapping[int, Sequence[Ticket]],
    running: Iterable[tuple[int, float | None]],
    settings: GuildSettings,
    bucket: TokenBucket,
    *,
    now: float,
    duration: float,
    competing: int,
    global_free: int,
    global_max_running: int,
    starts: TokenBucket | None = None,
) -> Iterator[tuple[Ticket, Estimate]]:
    """A guild's queued jobs in expected start order with their estimates, lazily.

    ``users`` maps each user (in turn order) to their queued jobs, oldest first;
    ``running`` holds (user, started_at) for the guild's running jobs; ``competing``
    is the number of guilds with queued jobs, ``global_free`` the free global slots and
    ``starts`` the global start-rate bucket, if any.
    """

    def finish(started_at: float | None) -> float:
        if started_at is None:
            return now + duration / 2
        return max(now, started_at + duration)

    user_finishes: dict[int, list[float]] = {}
    for user_id, started_at in running:
        user_finishes.setdefault(user_id, []).append(finish(started_at))
    guild_slots = Slots.of(
        settings.max_running, [t for times in user_finishes.values() for t in times]
    )
    user_slots: dict[int, Slots] = {}

    competing = max(1, competing)
    free_share = max(0, global_free) / competing
    global_gap = duration * competing / global_max_running
    if starts is not None:
        start_share, start_gap = starts.available(now) / competing, competing / starts.rate
    else:
        start_share, start_gap = 0.0, 0.0

    tokens, tokens_at = bucket.available(now), now
    start = now
    for position, (ticket, nth) in enumerate(round_robin(users)):
        slots = user_slots.get(ticket.user_id)
        if slots is None:
            slots = Slots.of(settings.user_max_running, user_finishes.get(ticket.user_id, []))
            user_slots[ticket.user_id] = slots
        start = max(
            start,
            ticket.not_before,
            guild_slots.earliest(position, now, duration),
            slots.earliest(nth, now, duration),
            now + max(0.0, position + 1 - free_share) * global_gap,
            now + max(0.0, position + 1 - start_share) * start_gap,
        )
        held = min(bucket.capacity, tokens + (start - tokens_at) * bucket.rate)
        if held + EPSILON < 1:
            start += (1 - held) / bucket.rate
            held = 1.0
        tokens, tokens_at = held - 1, start
        guild_slots.starts.append(start)
        slots.starts.append(start)
        yield ticket, Estimate(position, start - now)


def round_robin(users: Mapping[int, Sequence[Ticket]]) -> Iterator[tuple[Ticket, int]]:
    """The guild's queued jobs in the order turns would start them, each with its index."""
    active = [iter(jobs) for jobs in users.values()]
    nth = 0
    while active:
        still: list[Iterator[Ticket]] = []
        for jobs in active:
            ticket = next(jobs, None)
            if ticket is not None:
                yield ticket, nth
                still.append(jobs)
        active = still
        nth += 1
