"""When a queued job may start: per-guild rate and caps, a global cap, fair round-robin.

Pure and in memory. Everything that depends on time takes ``now`` (monotonic seconds), so the
pipeline owns the clock and the tests need no sleeping.

Who starts next
    Guilds that have queued jobs take turns (round-robin); the guild served goes to the back.
    Within a guild, users take turns the same way; within a user, jobs start oldest first (lowest
    job id), strictly: a user's later jobs wait behind their oldest one, so images arrive in the
    order they were asked for and a put-back job keeps its place. A guild is passed over while it
    is at ``max_running`` or has no token; a user while at ``user_max_running`` or while their
    oldest job's ``not_before`` is in the future or the caller's ``can_start`` refuses it. Passed
    over is not dropped: it keeps its turn for the next call. Nothing starts while
    ``global_max_running`` jobs run, nor faster than ``starts_per_second`` overall (bursts of a
    tenth of a second's worth): results then come back at a pace the bot can deliver, instead
    of a burst of starts returning as a burst of finished images that wait in the bot. A token
    is taken when a job starts, so a busy guild's jobs wait in the queue instead of being
    refused; refusal (``check_admission``) is only for the queue caps ``max_queued`` and
    ``user_max_queued``.

Estimates of position and start time are modelled in ``bot.pipeline.estimates``.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from bot.errors import LimitReached
from bot.models import GuildSettings
from bot.pipeline.estimates import DEFAULT_JOB_SECONDS, Estimate, Ticket, forecast
from bot.pipeline.ratelimit import EPSILON, TokenBucket

_PRUNE_EVERY = 60.0


@dataclass(slots=True, eq=False)
class _Guild:
    """One guild's queue (users in turn order → their jobs by id), running jobs and bucket."""

    settings: GuildSettings
    bucket: TokenBucket
    users: OrderedDict[int, deque[Ticket]] = field(default_factory=OrderedDict)
    queued: int = 0
    running: dict[int, tuple[int, float | None]] = field(default_factory=dict)
    user_running: dict[int, int] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        return not self.queued and not self.running


class Scheduler:
    """Decides which queued job starts next, fairly across guilds and users, within limits.

    ``limits`` is read when a guild is first seen and again on ``refresh``; ``can_start``
    passed to ``next`` must not change the scheduler.
    """

    def __init__(
        self,
        limits: Callable[[int], GuildSettings],
        global_max_running: int,
        *,
        job_seconds: float = DEFAULT_JOB_SECONDS,
        starts_per_second: float | None = None,
    ) -> None:
        if global_max_running < 1:
            raise ValueError("global_max_running must be at least 1")
        self._limits = limits
        self.global_max_running = global_max_running
        self._starts = (
            TokenBucket(starts_per_second, max(1.0, starts_per_second / 10))
            if starts_per_second
            else None
        )
        self.job_seconds = job_seconds
        self._guilds: dict[int, _Guild] = {}
        self._turns: OrderedDict[int, None] = OrderedDict()
        self._queued: dict[int, Ticket] = {}
        self._running: dict[int, Ticket] = {}
        self._idle: dict[int, None] = {}
        self._prune_at = -math.inf

    # -- queue changes ---------------------------------------------------------------------

    def push(self, ticket: Ticket) -> None:
        """Queue a job, in any order (resume); each user's jobs stay ordered by id."""
        job_id = ticket.job_id
        if job_id in self._queued or job_id in self._running:
            raise ValueError(f"job {job_id} is already scheduled")
        guild = self._guild(ticket.guild_id)
        jobs = guild.users.get(ticket.user_id)
        if jobs is None:
            guild.users[ticket.user_id] = deque((ticket,))
        elif jobs[-1].job_id < job_id:
            jobs.append(ticket)
        else:
            _insert_by_id(jobs, ticket)
        guild.queued += 1
        self._queued[job_id] = ticket
        if ticket.guild_id not in self._turns:
            self._turns[ticket.guild_id] = None

    def mark_running(self, ticket: Ticket, started_at: float | None = None) -> None:
        """Record a job already running at a restart: it holds slots but spends no token."""
        if ticket.job_id in self._queued or ticket.job_id in self._running:
            raise ValueError(f"job {ticket.job_id} is already scheduled")
        self._start(self._guild(ticket.guild_id), ticket, started_at)

    def remove(self, job_id: int) -> Ticket | None:
        """Take a queued job out (cancel); None if it is not queued."""
        ticket = self._queued.pop(job_id, None)
        if ticket is None:
            return None
        guild = self._guilds[ticket.guild_id]
        jobs = guild.users[ticket.user_id]
        for index, other in enumerate(jobs):
            if other is ticket:
                del jobs[index]
                break
        if not jobs:
            del guild.users[ticket.user_id]
        guild.queued -= 1
        if not guild.queued:
            del self._turns[ticket.guild_id]
        self._note_idle(ticket.guild_id, guild)
        return ticket

    def finished(self, job_id: int) -> Ticket | None:
        """Free a started job's slots; a second call (or an unknown job) does nothing."""
        ticket = self._running.pop(job_id, None)
        if ticket is None:
            return None
        guild = self._guilds[ticket.guild_id]
        del guild.running[job_id]
        left = guild.user_running[ticket.user_id] - 1
        if left:
            guild.user_running[ticket.user_id] = left
        else:
            del guild.user_running[ticket.user_id]
        self._note_idle(ticket.guild_id, guild)
        return ticket

    def put_back(self, job_id: int, not_before: float) -> Ticket | None:
        """Requeue a started job no provider could take, refunding its token; None if unknown."""
        ticket = self.finished(job_id)
        if ticket is None:
            return None
        self._guilds[ticket.guild_id].bucket.refund()
        if self._starts is not None:
            self._starts.refund()
        again = replace(ticket, not_before=not_before)
        self.push(again)
        return again

    def refresh(self, guild_id: int, now: float | None = None) -> None:
        """Apply the guild's current limits; the bucket keeps its tokens (settled at ``now``)."""
        guild = self._guilds.get(guild_id)
        if guild is None:
            return
        settings = self._limits(guild_id)
        guild.settings = settings
        guild.bucket.reconfigure(settings.jobs_per_minute / 60.0, settings.burst, now)

    # -- dispatch ----------------------------------------------------------------------------

    def next(self, now: float, can_start: Callable[[Ticket], bool] | None = None) -> Ticket | None:
        """Start the next job fair order allows, marking it running; None if none may start."""
        if now >= self._prune_at:
            self._prune(now)
        if len(self._running) >= self.global_max_running:
            return None
        if self._starts is not None and not self._starts.has(now):
            return None
        for guild_id in self._turns:
            guild = self._guilds[guild_id]
            if len(guild.running) >= guild.settings.max_running or not guild.bucket.has(now):
                continue
            ticket = self._pick(guild, now, can_start)
            if ticket is not None:
                break
        else:
            return None
        guild.bucket.take(now)
        if self._starts is not None:
            self._starts.take(now)
        self._start(guild, ticket, now)
        if guild.queued:
            self._turns.move_to_end(guild_id)
        else:
            del self._turns[guild_id]
        return ticket

    def wake_in(self, now: float) -> float | None:
        """Seconds until time alone (a token, a ``not_before``) could let a job start."""
        if len(self._running) >= self.global_max_running:
            return None
        soonest: float | None = None
        global_wait = self._starts.seconds_until(now) if self._starts is not None else 0.0
        for guild_id in self._turns:
            guild = self._guilds[guild_id]
            if len(guild.running) >= guild.settings.max_running:
                continue
            token_wait = max(guild.bucket.seconds_until(now), global_wait)
            cap = guild.settings.user_max_running
            for user_id, jobs in guild.users.items():
                if guild.user_running.get(user_id, 0) >= cap:
                    continue
                wait = max(token_wait, jobs[0].not_before - now)
                if wait > EPSILON and (soonest is None or wait < soonest):
                    soonest = wait
                if wait <= token_wait and token_wait > EPSILON:
                    break  # no member of this guild can beat the next token
        return soonest

    # -- admission and forecasts -------------------------------------------------------------

    def check_admission(
        self,
        guild_id: int,
        user_id: int,
        now: float,
        job_seconds: float | None = None,
        *,
        admitting_guild: int = 0,
        admitting_user: int = 0,
    ) -> None:
        """Raise LimitReached naming the queue cap a new job would break, and when it frees.

        ``admitting_*`` count jobs already past this check but not yet pushed (their
        transaction is in flight), so concurrent admissions cannot slip past a cap.
        """
        guild = self._guilds.get(guild_id)
        settings = guild.settings if guild is not None else self._limits(guild_id)
        mine = guild.users.get(user_id) if guild is not None else None
        user_queued = (len(mine) if mine else 0) + admitting_user
        guild_queued = (guild.queued if guild is not None else 0) + admitting_guild
        over_user = user_queued >= settings.user_max_queued
        over_guild = guild_queued >= settings.max_queued
        if not (over_user or over_guild):
            return
        # Room comes when enough jobs have started: the user's (n - cap)-th, the guild's likewise
        # (the last one queued, when the rest are still being admitted).
        user_target = (
            mine[min(len(mine) - 1, user_queued - settings.user_max_queued)]
            if over_user and mine
            else None
        )
        guild_target = (
            min(guild.queued - 1, guild_queued - settings.max_queued)
            if over_guild and guild is not None and guild.queued
            else None
        )
        user_frees: float | None = None
        guild_frees: float | None = None
        for ticket, estimate in self._forecast(guild, now, job_seconds) if guild else ():
            if ticket is user_target:
                user_frees = estimate.starts_in
            if estimate.position == guild_target:
                guild_frees = estimate.starts_in
            if (user_target is None or user_frees is not None) and (
                guild_target is None or guild_frees is not None
            ):
                break
        refusals: list[LimitReached] = []
        if over_user:
            refusals.append(
                LimitReached(
                    limit="user_max_queued",
                    value=settings.user_max_queued,
                    waiting=user_queued,
                    frees_in=user_frees,
                )
            )
        if over_guild:
            refusals.append(
                LimitReached(
                    limit="max_queued",
                    value=settings.max_queued,
                    waiting=guild_queued,
                    frees_in=guild_frees,
                )
            )
        # Both must clear before the job fits, so the later one is the honest answer.
        raise max(refusals, key=lambda r: math.inf if r.frees_in is None else r.frees_in)

    def estimates(
        self, guild_id: int, now: float, job_seconds: float | None = None
    ) -> dict[int, Estimate]:
        """Position and expected start of every queued job of a guild (model in module doc)."""
        guild = self._guilds.get(guild_id)
        if guild is None:
            return {}
        return {t.job_id: e for t, e in self._forecast(guild, now, job_seconds)}

    def estimate(
        self, job_id: int, now: float, job_seconds: float | None = None
    ) -> Estimate | None:
        """Position and expected start of one queued job; None if it is not queued."""
        ticket = self._queued.get(job_id)
        if ticket is None:
            return None
        for other, estimate in self._forecast(self._guilds[ticket.guild_id], now, job_seconds):
            if other is ticket:
                return estimate
        return None

    def _forecast(
        self, guild: _Guild, now: float, job_seconds: float | None
    ) -> Iterator[tuple[Ticket, Estimate]]:
        return forecast(
            guild.users,
            guild.running.values(),
            guild.settings,
            guild.bucket,
            now=now,
            duration=self.job_seconds if job_seconds is None else job_seconds,
            competing=len(self._turns),
            global_free=self.global_max_running - len(self._running),
            global_max_running=self.global_max_running,
            starts=self._starts,
        )

    # -- counts ------------------------------------------------------------------------------

    def queued(self, guild_id: int | None = None, user_id: int | None = None) -> int:
        """Jobs waiting, overall or for a guild, a user, or a user in a guild."""
        if guild_id is None and user_id is None:
            return len(self._queued)
        total = 0
        for guild in self._scope(guild_id):
            if user_id is None:
                total += guild.queued
            else:
                jobs = guild.users.get(user_id)
                total += len(jobs) if jobs else 0
        return total

    def running(self, guild_id: int | None = None, user_id: int | None = None) -> int:
        """Jobs started and not finished, overall or for a guild, a user, or both."""
        if guild_id is None and user_id is None:
            return len(self._running)
        total = 0
        for guild in self._scope(guild_id):
            if user_id is None:
                total += len(guild.running)
            else:
                total += guild.user_running.get(user_id, 0)
        return total

    def is_queued(self, job_id: int) -> bool:
        """Whether the job is waiting here (so it can still be cancelled without a provider)."""
        return job_id in self._queued

    def is_running(self, job_id: int) -> bool:
        """Whether the job was started and has not finished."""
        return job_id in self._running

    @property
    def tracked_guilds(self) -> int:
        """Guilds held in memory: those with jobs or a bucket still refilling."""
        return len(self._guilds)

    # -- internals ---------------------------------------------------------------------------

    def _guild(self, guild_id: int) -> _Guild:
        guild = self._guilds.get(guild_id)
        if guild is None:
            settings = self._limits(guild_id)
            guild = _Guild(settings, TokenBucket.for_settings(settings))
            self._guilds[guild_id] = guild
        return guild

    def _scope(self, guild_id: int | None) -> list[_Guild]:
        if guild_id is None:
            return list(self._guilds.values())
        guild = self._guilds.get(guild_id)
        return [guild] if guild is not None else []

    def _pick(
        self, guild: _Guild, now: float, can_start: Callable[[Ticket], bool] | None
    ) -> Ticket | None:
        cap = guild.settings.user_max_running
        chosen: int | None = None
        for user_id, jobs in guild.users.items():
            if guild.user_running.get(user_id, 0) >= cap:
                continue
            head = jobs[0]
            if head.not_before > now + EPSILON or (can_start is not None and not can_start(head)):
                continue
            chosen = user_id
            break
        if chosen is None:
            return None
        jobs = guild.users[chosen]
        ticket = jobs.popleft()
        if jobs:
            guild.users.move_to_end(chosen)
        else:
            del guild.users[chosen]
        guild.queued -= 1
        del self._queued[ticket.job_id]
        return ticket

    def _start(self, guild: _Guild, ticket: Ticket, started_at: float | None) -> None:
        self._running[ticket.job_id] = ticket
        guild.running[ticket.job_id] = (ticket.user_id, started_at)
        guild.user_running[ticket.user_id] = guild.user_running.get(ticket.user_id, 0) + 1

    def _note_idle(self, guild_id: int, guild: _Guild) -> None:
        if guild.idle:
            self._idle[guild_id] = None

    def _prune(self, now: float) -> None:
        """Forget idle guilds whose bucket has refilled: a fresh one would be identical."""
        self._prune_at = now + _PRUNE_EVERY
        for guild_id in list(self._idle):
            guild = self._guilds.get(guild_id)
            if guild is not None and guild.idle:
                if not guild.bucket.full(now):
                    continue
                del self._guilds[guild_id]
            del self._idle[guild_id]


def _insert_by_id(jobs: deque[Ticket], ticket: Ticket) -> None:
    for index, other in enumerate(jobs):
        if other.job_id > ticket.job_id:
            jobs.insert(index, ticket)
            return
    jobs.append(ticket)
